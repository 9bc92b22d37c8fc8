r"""Graph operators applied by sparse message passing.

Each operator knows how to apply itself to an ``[n, m]`` block
(:meth:`~GraphOperator.matvec`), whether it is PSD, the node measure in
which it is self-adjoint, how its eigenvalues map back to the operator the
user asked for (:meth:`~GraphOperator.to_original`) and its trivial mode.

=====================  ==============================================  =====
name                   training operator :math:`T`                     PSD
=====================  ==============================================  =====
``"adjacency"``        :math:`\hat A = D^{-1/2} A D^{-1/2}`             no
``"lazy_adjacency"``   :math:`(I + \hat A)/2`                          yes
``"laplacian"``        :math:`I - L_{sym}/2` (bottom of :math:`L_{sym}`)  yes
``"random_walk"``      :math:`P = D^{-1}A` in :math:`L^2(\pi)`          no
=====================  ==============================================  =====

:class:`PolynomialFilter` wraps any of them in a gap-widening polynomial.
:class:`BlockDiagonalLaplacian` is :math:`L_{sym}` of a batch of graphs with
per-graph Rayleigh–Ritz and Chebyshev filtering (many small graphs at once).
"""
from typing import Optional, Type, Union

import torch
from torch import Tensor

from .adjacency import LazyAdjacency, NormalizedAdjacency
from .directed import DirectedNormalizedAdjacency
from .base import GraphOperator, LaplacianOperator
from .block_diagonal import BlockDiagonalLaplacian
from .laplacian import NormalizedLaplacian
from .polynomial import PolynomialFilter
from .random_walk import RandomWalk

__all__ = [
    "BlockDiagonalLaplacian",
    "DirectedNormalizedAdjacency",
    "GraphOperator",
    "LaplacianOperator",
    "NormalizedAdjacency",
    "LazyAdjacency",
    "NormalizedLaplacian",
    "RandomWalk",
    "PolynomialFilter",
    "OPERATORS",
    "build_operator",
]

OPERATORS: dict[str, Type[LaplacianOperator]] = {
    "adjacency": NormalizedAdjacency,
    "lazy_adjacency": LazyAdjacency,
    "laplacian": NormalizedLaplacian,
    "random_walk": RandomWalk,
}


def build_operator(
    name: Union[str, Type[LaplacianOperator]],
    edge_index: Tensor,
    edge_weight: Optional[Tensor] = None,
    num_nodes: Optional[int] = None,
    *,
    symmetrize: bool = False,
    filter_degree: int = 1,
    dtype: torch.dtype = torch.float32,
) -> GraphOperator:
    """Build an operator by name, optionally wrapped in a power filter.

    Args:
        name: one of :data:`OPERATORS`, an operator class, or an operator already built on this graph (e.g.
            ``PolynomialFilter.chebyshev(...)``), used as it is.
        edge_index, edge_weight, num_nodes: the graph (see
            :meth:`LaplacianOperator.from_edge_index`).
        symmetrize: accept directed input and symmetrize it.
        filter_degree: if > 1, learn :math:`T^{d}` instead of :math:`T`
            (:meth:`PolynomialFilter.power`; PSD operators only).
        dtype: floating dtype.
    """
    if isinstance(name, GraphOperator):
        # A ready operator (e.g. PolynomialFilter.chebyshev(...)): it must be the graph's.
        n = int(num_nodes) if num_nodes is not None else (int(edge_index.max()) + 1 if edge_index.numel() else 0)
        if name.num_nodes != n:
            raise ValueError(f"The operator given has {name.num_nodes} nodes but the graph has {n}.")
        op = name.to(dtype=dtype)
        return PolynomialFilter.power(op, int(filter_degree)) if int(filter_degree) > 1 else op
    if isinstance(name, str):
        if name not in OPERATORS:
            raise ValueError(f"Unknown operator {name!r}; choose one of {sorted(OPERATORS)}.")
        cls = OPERATORS[name]
    else:
        cls = name
    op = cls.from_edge_index(edge_index, edge_weight, num_nodes, symmetrize=symmetrize, dtype=dtype)
    if int(filter_degree) > 1:
        op = PolynomialFilter.power(op, int(filter_degree))
    return op
