"""Base classes of graph operators applied by sparse message passing."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..utils.graph import symmetrize_edges
from ..utils.sparse import laplacian_csr, quiet_csr
from ..utils.validation import check_dtype, check_graph

__all__ = ["GraphOperator", "LaplacianOperator"]


class GraphOperator(ABC):
    r"""A linear operator :math:`T` on node functions, self-adjoint in :math:`L^2(\rho)`.

    The nested losses learn the top eigenpairs of this *training operator*
    :math:`T`, where :math:`\rho` is the node measure (:attr:`measure`; uniform
    unless stated). :math:`T` relates affinely to the operator :math:`O` the
    user asked for,

    .. math::
        T = a\,O + b\,I, \qquad \lambda(O) = (\lambda(T) - b) / a,

    so both share eigenvectors. The top of :math:`T`'s spectrum is the top of
    :math:`O`'s when :math:`a > 0` and its bottom when :math:`a < 0` (the
    Laplacian, learned as the top of its PSD complement :math:`I - L/2`).

    Attributes:
        num_nodes: number of nodes :math:`n`.
        degree: weighted degrees (self-loops excluded), shape ``[n]``.
        is_psd: whether :math:`T` is positive semi-definite (NestedOMM needs it).
        scale, shift: :math:`a` and :math:`b` above.
        spectral_radius: an upper bound on :math:`|\lambda(T)|`; default step
            sizes are divided by it.
    """

    name: str = "operator"
    is_psd: bool = False
    scale: float = 1.0
    shift: float = 0.0
    spectral_radius: float = 1.0
    #: interval that contains the spectrum of :math:`T`
    spectrum_interval: Tuple[float, float] = (-1.0, 1.0)

    def __init__(self, num_nodes: int, degree: Tensor):
        self.num_nodes = int(num_nodes)
        self.degree = degree

    # ----------------------------------------------------------------- algebra
    @abstractmethod
    def matvec(self, x: Tensor) -> Tensor:
        """Apply :math:`T` to ``x`` of shape ``[n, m]``."""

    def __matmul__(self, x: Tensor) -> Tensor:
        return self.matvec(x)

    @property
    def measure(self) -> Tensor:
        r"""Node measure :math:`\rho` (sums to one) in which :math:`T` is self-adjoint."""
        return torch.full((self.num_nodes,), 1.0 / self.num_nodes, dtype=self.dtype, device=self.device)

    @property
    def base(self) -> "GraphOperator":
        """The operator used for Rayleigh–Ritz and residuals (``self`` unless a filter)."""
        return self

    @property
    def descending(self) -> bool:
        """Whether the user's eigenvalues are reported in descending order."""
        return self.scale > 0

    def to_original(self, eigenvalues: Tensor) -> Tensor:
        """Map eigenvalues of :math:`T` to those of the operator the user asked for."""
        return (eigenvalues - self.shift) / self.scale

    def from_original(self, eigenvalues: Tensor) -> Tensor:
        """Inverse of :meth:`to_original`."""
        return eigenvalues * self.scale + self.shift

    def trivial_mode(self) -> Tuple[Tensor, float]:
        r"""The known top eigenvector of :math:`T` (unit Euclidean norm) and its
        eigenvalue in the user's units.

        On a graph with several connected components it is one vector of an
        eigenspace whose dimension is the number of components.
        """
        vec = self.degree.clamp_min(0).sqrt()
        # + 0.0: the Laplacian's (1 - 1) / -0.5 is -0.0, which messages would print as "-0"
        return vec / vec.norm(), float(self.to_original(torch.tensor(1.0, dtype=torch.float64))) + 0.0

    def isolated_eigenvalue(self) -> float:
        """Eigenvalue (user's units) carried by an isolated node's indicator vector."""
        return float("nan")

    @abstractmethod
    def symmetric_matrix(self) -> sp.csr_matrix:
        r"""Scipy matrix :math:`S = R^{1/2} T R^{-1/2}`, :math:`R = \mathrm{diag}(\rho)`.

        :math:`S` is symmetric with the eigenvalues of :math:`T`; an eigenvector
        :math:`u` of :math:`S` gives the eigenvector :math:`R^{-1/2}u` of
        :math:`T`. Ground truth comes from ``scipy.sparse.linalg.eigsh(S)``.
        """

    # -------------------------------------------------------------- conversion
    @property
    def device(self) -> torch.device:
        return self.degree.device

    @property
    def dtype(self) -> torch.dtype:
        return self.degree.dtype

    def to(self, device=None, dtype: Optional[torch.dtype] = None) -> "GraphOperator":
        """Move tensors to ``device`` and floating ones to ``dtype``, in place."""
        for key, val in vars(self).items():
            if isinstance(val, Tensor):
                if device is not None:
                    val = val.to(device=device)
                if dtype is not None and (val.is_floating_point() or val.layout == torch.sparse_csr):
                    val = val.to(dtype=dtype)
                setattr(self, key, val)
            elif isinstance(val, GraphOperator):
                val.to(device, dtype)
        return self

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(num_nodes={self.num_nodes}, psd={self.is_psd}, "
            f"dtype={self.dtype}, device={self.device})"
        )


class LaplacianOperator(GraphOperator):
    r"""Operators of the form :math:`T = c_0 I + c_1 L`, with :math:`L` the
    matrix of :func:`torch_geometric.utils.get_laplacian` (``normalization``
    ``"sym"`` or ``"rw"``) stored once in CSR layout and applied by one sparse
    matmul.

    Self-loops are dropped and duplicate (parallel) edges summed, as
    ``get_laplacian`` does; zero-weight edges are no edges. Isolated nodes
    (zero weighted degree) follow PyG's convention: their row of the
    normalized adjacency is zero and their Laplacian diagonal is one. The
    operator does not change when all weights are scaled by one constant, so
    weights whose degrees would overflow or underflow ``dtype`` are rescaled
    by a power of two first (:attr:`degree` is then scaled the same way).
    """

    normalization: str = "sym"
    c0: float = 1.0
    c1: float = -1.0

    def __init__(self, laplacian: Tensor, degree: Tensor):
        super().__init__(laplacian.size(0), degree)
        self.laplacian = laplacian

    @classmethod
    def from_edge_index(
        cls,
        edge_index: Tensor,
        edge_weight: Optional[Tensor] = None,
        num_nodes: Optional[int] = None,
        *,
        symmetrize: bool = False,
        dtype: torch.dtype = torch.float32,
        check: bool = True,
    ) -> "LaplacianOperator":
        """Build the operator from a PyG graph.

        Args:
            edge_index: ``[2, E]`` edges.
            edge_weight: optional non-negative ``[E]`` weights (default ones).
            num_nodes: number of nodes (default ``max(edge_index) + 1``).
            symmetrize: make a directed input undirected as :math:`A + A^\\top`
                (:func:`~pyg_spectral.utils.graph.symmetrize_edges`; weights of
                reciprocal and parallel edges are summed, an unweighted graph
                counts 1 per edge). Without it, directed input raises.
            dtype: floating dtype of the stored matrix.
            check: validate the input (see :func:`pyg_spectral.utils.validation.check_graph`).
        """
        if check:
            edge_index, edge_weight, num_nodes = check_graph(
                edge_index, edge_weight, num_nodes, require_undirected=not symmetrize
            )
        elif num_nodes is None:
            num_nodes = int(edge_index.max()) + 1
        check_dtype(dtype)
        edge_index = edge_index.long()
        if edge_weight is None:
            edge_weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        if symmetrize:
            edge_index, edge_weight = symmetrize_edges(edge_index, edge_weight)
        # cast (or rescale) inside: weights whose degrees overflow dtype are normalized in float64
        laplacian, degree = laplacian_csr(edge_index, edge_weight, num_nodes, cls.normalization, dtype=dtype)
        return cls(laplacian, degree)

    def matvec(self, x: Tensor) -> Tensor:
        lx = torch.sparse.mm(self.laplacian, x) if x.dim() == 2 else torch.mv(self.laplacian, x)
        return self.c0 * x + self.c1 * lx

    def matvec_rows(self, x: Tensor, start: int, end: int) -> Tensor:
        """Rows ``start:end`` of :meth:`matvec` ``(x)`` (``x``: ``[n, m]``), from those rows of the CSR
        matrix only: ``(Tx)`` can be streamed in row chunks without an ``[n, m]`` buffer."""
        crow = self.laplacian.crow_indices()
        lo, hi = int(crow[start]), int(crow[end])
        with quiet_csr():
            rows = torch.sparse_csr_tensor(crow[start:end + 1] - lo, self.laplacian.col_indices()[lo:hi],
                                           self.laplacian.values()[lo:hi], (end - start, self.num_nodes),
                                           check_invariants=False)
        return self.c0 * x[start:end] + self.c1 * torch.sparse.mm(rows, x)

    def isolated_eigenvalue(self) -> float:
        # get_laplacian puts 1 on an isolated node's diagonal: T_ii = c0 + c1.
        return float(self.to_original(torch.tensor(self.c0 + self.c1, dtype=torch.float64))) + 0.0

    def laplacian_scipy(self) -> sp.csr_matrix:
        """The stored Laplacian as a scipy CSR matrix (float64)."""
        lap = self.laplacian.to(torch.float64).cpu()
        return sp.csr_matrix(
            (lap.values().numpy(), lap.col_indices().numpy(), lap.crow_indices().numpy()),
            shape=(self.num_nodes, self.num_nodes),
        )

    def symmetric_matrix(self) -> sp.csr_matrix:
        mat = self.c0 * sp.identity(self.num_nodes, format="csr") + self.c1 * self.laplacian_scipy()
        rho = self.measure.double().cpu().numpy()
        if not np.allclose(rho, rho[0]):
            root = np.sqrt(rho)
            mat = sp.diags(root) @ mat @ sp.diags(1.0 / root)
        return sp.csr_matrix(0.5 * (mat + mat.T))
