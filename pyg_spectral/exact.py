"""Reference eigenpairs from exact solvers (scipy ``eigsh`` / dense ``eigh``)."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as sla
import torch
from torch_geometric.data import Data

from .operators import GraphOperator, build_operator
from .spectrum import fix_signs

__all__ = ["exact_eigenpairs"]


def exact_eigenpairs(
    graph: Union[Data, GraphOperator],
    k: int,
    operator: str = "laplacian",
    *,
    dense_below: int = 1500,
    tol: float = 0.0,
    symmetrize: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` eigenpairs of a graph operator, in the estimator's conventions.

    Eigenvalues are in the user's units and order (ascending for
    ``"laplacian"``, descending otherwise); eigenvectors are unit-norm columns
    with the same sign rule as :class:`~pyg_spectral.NeuralSpectralEmbedding`.

    Args:
        graph: a PyG ``Data`` (then ``operator`` names the operator) or an
            operator instance.
        k: number of eigenpairs.
        dense_below: use dense ``scipy.linalg.eigh`` below this many nodes,
            ``scipy.sparse.linalg.eigsh`` above.
        tol: ``eigsh`` tolerance (0 = machine precision).

    Returns:
        ``(eigenvalues [k], eigenvectors [n, k])`` as float64 numpy arrays.
    """
    if isinstance(graph, GraphOperator):
        op = graph
    else:
        op = build_operator(operator, graph.edge_index, getattr(graph, "edge_weight", None),
                            graph.num_nodes, symmetrize=symmetrize, dtype=torch.float64)
    op = op.base
    n = op.num_nodes
    if not 0 < k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for a graph with {n} nodes, got {k}.")
    S = op.symmetric_matrix()
    if n < dense_below:
        w, V = scipy.linalg.eigh(S.toarray())
        w, V = w[::-1][:k], V[:, ::-1][:, :k]
    else:
        w, V = sla.eigsh(S, k=k, which="LA", tol=tol)
        order = np.argsort(-w)
        w, V = w[order], V[:, order]
    # Eigenvectors of T from those of S = R^1/2 T R^-1/2.
    rho = op.measure.double().cpu().numpy()
    V = V / np.sqrt(rho)[:, None]
    V = V / np.linalg.norm(V, axis=0, keepdims=True)
    vals = op.to_original(torch.from_numpy(w.copy())).numpy()
    vecs = fix_signs(torch.from_numpy(np.ascontiguousarray(V))).numpy()
    return vals, vecs
