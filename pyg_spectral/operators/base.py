"""Base classes of graph operators applied by sparse message passing."""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.utils import scatter, to_undirected

from .._validation import check_graph

__all__ = ["GraphOperator", "LaplacianOperator"]


def _to_csr(index: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    """Coalesce (summing duplicates) into a CSR matrix, without torch's beta-state notices."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        coo = torch.sparse_coo_tensor(index, value, (num_nodes, num_nodes), check_invariants=False)
        return coo.coalesce().to_sparse_csr()


def _csr_with_diagonal(row: Tensor, col: Tensor, value: Tensor, n: int) -> Tensor:
    """CSR of the strictly sorted, loop-free entries ``(row, col, value)`` plus a diagonal of ones."""
    total = row.numel() + n
    crow = torch.zeros(n + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=n) + 1, 0)
    # Entry i lands after the diagonals of the row_i earlier rows, and after its own row's when col_i > row_i;
    # row r's diagonal after its entries left of it.
    position = torch.arange(row.numel(), device=row.device) + row + (col > row).long()
    diagonal = crow[:-1] + torch.bincount(row[col < row], minlength=n)
    cols = torch.empty(total, dtype=col.dtype, device=col.device)
    values = torch.empty(total, dtype=value.dtype, device=value.device)
    cols[position], values[position] = col, value
    cols[diagonal], values[diagonal] = torch.arange(n, device=col.device, dtype=col.dtype), 1.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, cols, values, (n, n), check_invariants=False)


def _laplacian_csr(edge_index: Tensor, edge_weight: Tensor, num_nodes: int, normalization: str
                   ) -> Tuple[Tensor, Tensor]:
    r"""``(L, degree)``: the normalized Laplacian in CSR layout, built in place of
    :func:`torch_geometric.utils.get_laplacian` followed by a COO coalesce.

    Same matrix, entry for entry (tested against ``get_laplacian``): self-loops
    dropped, duplicate edges summed, a diagonal of ones for every node
    (isolated ones included), ``"sym"``: :math:`-w_{ij}/\sqrt{d_i d_j}`,
    ``"rw"``: :math:`-w_{ij}/d_i` off the diagonal. Why by hand: the
    ``get_laplacian`` + coalesce route keeps several ``E``-sized index copies
    alive at once (0.95 GB of transients for 1e7 edges, measured); sorting one
    ``int64`` key per entry peaks at about half of that.
    """
    n = int(num_nodes)
    row, col = edge_index[0], edge_index[1]
    loops = row == col
    if bool(loops.any()):
        keep = ~loops
        row, col, edge_weight = row[keep], col[keep], edge_weight[keep]
    del loops
    degree = scatter(edge_weight, row, dim=0, dim_size=n, reduce="sum")
    if normalization == "sym":
        inv = degree.pow(-0.5)
        inv.masked_fill_(inv == float("inf"), 0)
        off = inv[row] * edge_weight * inv[col]
    elif normalization == "rw":
        inv = 1.0 / degree
        inv.masked_fill_(inv == float("inf"), 0)
        off = inv[row] * edge_weight
    else:
        raise ValueError(f"Unknown normalization {normalization!r}.")
    edge_key = row * n + col
    if edge_key.numel() and bool((edge_key[1:] > edge_key[:-1]).all()):
        # Already sorted, no parallel edges (PyG graphs and batches usually are): slot the diagonal in
        # without sorting.
        return _csr_with_diagonal(row, col, off.neg_(), n), degree
    nodes = torch.arange(n, device=row.device)
    key = torch.cat([edge_key, nodes * (n + 1)])  # row-major position of every entry
    del row, col, nodes, edge_key
    value = torch.cat([off.neg_(), torch.ones(n, dtype=off.dtype, device=off.device)])
    del off
    key, order = torch.sort(key)
    value = value[order]
    del order
    key, counts = torch.unique_consecutive(key, return_counts=True)
    if key.numel() < value.numel():  # duplicate edges: sum them, as coalesce does
        segment = torch.repeat_interleave(torch.arange(key.numel(), device=key.device), counts)
        value = torch.zeros(key.numel(), dtype=value.dtype, device=value.device).index_add_(0, segment, value)
        del segment
    del counts
    rows = torch.div(key, n, rounding_mode="floor")
    cols = key - rows * n
    del key
    crow = torch.zeros(n + 1, dtype=torch.long, device=cols.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    del rows
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, cols, value, (n, n), check_invariants=False), degree


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
        return vec / vec.norm(), float(self.to_original(torch.tensor(1.0, dtype=torch.float64)))

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

    Self-loops are dropped and duplicate edges summed, as ``get_laplacian``
    does. Isolated nodes follow PyG's convention: their row of the normalized
    adjacency is zero and their Laplacian diagonal is one.
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
            symmetrize: make a directed input undirected with
                :func:`~torch_geometric.utils.to_undirected` (union of both
                directions; weights of reciprocal edges are summed, i.e.
                :math:`A + A^\\top`). Without it, directed input raises.
            dtype: floating dtype of the stored matrix.
            check: validate the input (see :func:`pyg_spectral._validation.check_graph`).
        """
        if check:
            edge_index, edge_weight, num_nodes = check_graph(
                edge_index, edge_weight, num_nodes, require_undirected=not symmetrize
            )
        elif num_nodes is None:
            num_nodes = int(edge_index.max()) + 1
        edge_index = edge_index.long()
        if symmetrize:
            if edge_weight is None:
                edge_index = to_undirected(edge_index, num_nodes=num_nodes)
            else:
                edge_index, edge_weight = to_undirected(edge_index, edge_weight, num_nodes=num_nodes)
        if edge_weight is None:
            edge_weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        edge_weight = edge_weight.to(dtype)
        laplacian, degree = _laplacian_csr(edge_index, edge_weight, num_nodes, cls.normalization)
        return cls(laplacian, degree)

    def matvec(self, x: Tensor) -> Tensor:
        lx = torch.sparse.mm(self.laplacian, x) if x.dim() == 2 else torch.mv(self.laplacian, x)
        return self.c0 * x + self.c1 * lx

    def matvec_rows(self, x: Tensor, start: int, end: int) -> Tensor:
        """Rows ``start:end`` of :meth:`matvec` ``(x)`` (``x``: ``[n, m]``), from those rows of the CSR
        matrix only: ``(Tx)`` can be streamed in row chunks without an ``[n, m]`` buffer."""
        crow = self.laplacian.crow_indices()
        lo, hi = int(crow[start]), int(crow[end])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            rows = torch.sparse_csr_tensor(crow[start:end + 1] - lo, self.laplacian.col_indices()[lo:hi],
                                           self.laplacian.values()[lo:hi], (end - start, self.num_nodes),
                                           check_invariants=False)
        return self.c0 * x[start:end] + self.c1 * torch.sparse.mm(rows, x)

    def isolated_eigenvalue(self) -> float:
        # get_laplacian puts 1 on an isolated node's diagonal: T_ii = c0 + c1.
        return float(self.to_original(torch.tensor(self.c0 + self.c1, dtype=torch.float64)))

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
