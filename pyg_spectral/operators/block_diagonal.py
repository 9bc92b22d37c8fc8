r"""The normalized Laplacian of a batch of graphs, in a padded per-graph layout.

A PyG :class:`~torch_geometric.data.Batch` is a disjoint union, so its
Laplacian is block diagonal. One sparse matmul applies every block at once;
what must stay per graph is the linear algebra on top (the trivial vector,
Gram matrices, Rayleigh–Ritz, the filter's cutoff). This module holds the
operator and its padded ``[B, n_max, m]`` layout; the batched per-graph
eigensolver that works in it is :mod:`pyg_spectral.spectrum.batched`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from ..utils.sparse import quiet_csr
from ..spectrum.growth import MAX_GROWTH
from .laplacian import NormalizedLaplacian

__all__ = ["BlockDiagonalLaplacian", "MAX_GROWTH"]



class BlockDiagonalLaplacian:
    r""":math:`L = I - D^{-1/2} A D^{-1/2}` of a disjoint union of connected
    graphs, each with at least two nodes, with per-graph deflation,
    Rayleigh–Ritz and Chebyshev filtering.

    The trivial eigenvector of graph :math:`g`, :math:`u_g \propto
    D_g^{1/2}\mathbf 1` (eigenvalue 0), is known in closed form; every method
    works in its orthogonal complement, so the returned pairs are the
    non-trivial ones.

    Args:
        edge_index: ``[2, E]`` edges of the union (undirected, nodes of one
            graph contiguous, as in a PyG ``Batch``).
        num_nodes: total number of nodes.
        batch: ``[N]`` graph index of each node (sorted).
        num_graphs: number of graphs :math:`B`.
        edge_weight: optional ``[E]`` non-negative weights.
        dtype: dtype of all the arithmetic, float64 (default) or float32
            (about twice as fast on CPU; each filter round may then amplify
            some directions by only ``1e4`` over others, against ``1e10``,
            see :data:`MAX_GROWTH`, so it takes more, shorter rounds).
        group_ratio: graphs whose sizes lie within this factor share one
            padded ``[b, n_max, m]`` group (larger: fewer, bigger kernels and
            more padding).

    Example:
        >>> import torch
        >>> from torch_geometric.data import Batch
        >>> from pyg_spectral.datasets import cycle_graph, path_graph
        >>> b = Batch.from_data_list([cycle_graph(6), path_graph(5)])
        >>> op = BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)
        >>> x = op.degree.double().sqrt().unsqueeze(-1)             # D^{1/2} 1: the trivial direction of each graph...
        >>> float(op.deflate(x).abs().max()) < 1e-12                  # ...is removed graph by graph
        True
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, batch: Tensor, num_graphs: int,
                 edge_weight: Optional[Tensor] = None, dtype: torch.dtype = torch.float64,
                 group_ratio: float = 1.5):
        # NaN fails ``>= 0`` too; the padded layout finds each row's diagonal as its only positive entry
        if edge_weight is not None and not bool(((edge_weight >= 0) & torch.isfinite(edge_weight)).all()):
            raise ValueError("BlockDiagonalLaplacian needs finite, non-negative edge weights.")
        op = NormalizedLaplacian.from_edge_index(edge_index, edge_weight, num_nodes, dtype=dtype, check=False)
        self.laplacian, self.degree = op.laplacian, op.degree
        self.num_nodes, self.num_graphs, self.dtype = int(num_nodes), int(num_graphs), dtype
        self.batch = batch
        self.sizes = torch.bincount(batch, minlength=self.num_graphs)
        self.ptr = torch.zeros(self.num_graphs + 1, dtype=torch.long, device=batch.device)
        self.ptr[1:] = torch.cumsum(self.sizes, 0)
        #: index of each node inside its own graph
        self.position = torch.arange(self.num_nodes, device=batch.device) - self.ptr[batch]
        if dtype not in MAX_GROWTH:
            raise ValueError(f"BlockDiagonalLaplacian supports dtypes {sorted(map(str, MAX_GROWTH))}, got {dtype}.")
        if self.num_graphs and int(self.sizes.min()) < 2:
            raise ValueError("BlockDiagonalLaplacian needs graphs of at least two nodes "
                             "(an isolated node has no trivial eigenvector D^{1/2} 1).")
        root = op.degree.to(dtype).sqrt().unsqueeze(-1)
        if bool((root == 0).any()):
            raise ValueError("BlockDiagonalLaplacian needs connected graphs: found an isolated node.")
        norm = scatter(root * root, batch, dim=0, dim_size=self.num_graphs, reduce="sum").sqrt()
        self.trivial = root / norm[batch]  # [N, 1], unit norm per graph
        self._build_layout(float(group_ratio))
        self._solver = None

    def _build_layout(self, ratio: float) -> None:
        """The padded layout all per-graph work runs in: graphs sorted by size and grouped (sizes within a
        factor ``ratio``), each group a contiguous ``[b * n_max]`` row range in which graph ``i`` owns rows
        ``[i * n_max, i * n_max + n_g)``; the other rows are zero. A block ``[P, m]`` in this layout views
        as ``[b, n_max, m]`` per group with no copy, and the Laplacian permuted into it (empty rows at the
        padding) keeps every block's padding zero."""
        dev, sizes = self.batch.device, self.sizes.cpu()
        order = torch.argsort(sizes, descending=True, stable=True)
        sorted_sizes = sizes[order].tolist()
        layout, base, start, offset = [], torch.zeros(self.num_graphs, dtype=torch.long), 0, 0
        while start < len(sorted_sizes):
            end = start + 1
            while end < len(sorted_sizes) and ratio * sorted_sizes[end] >= sorted_sizes[start]:
                end += 1
            n_max, count = sorted_sizes[start], end - start
            base[order[start:end]] = offset + n_max * torch.arange(count)
            layout.append((order[start:end].to(dev), offset, count, n_max))
            offset += count * n_max
            start = end
        #: groups of the padded layout: ``(graph ids, first row, number of graphs, rows per graph)``
        self.layout = layout
        self.padded_size = offset
        #: row of each node in the padded layout
        self.padded_row = base.to(dev)[self.batch] + self.position
        self._gather = torch.full((offset,), self.num_nodes, dtype=torch.long, device=dev)
        self._gather[self.padded_row] = torch.arange(self.num_nodes, device=dev)
        self._padding_rows = torch.nonzero(self._gather == self.num_nodes).flatten()
        #: graph owning each padded row (padding rows: the graph of their slot)
        self.padded_graph = torch.zeros(offset, dtype=torch.long, device=dev)
        for graphs, first, count, n_max in layout:
            self.padded_graph[first:first + count * n_max] = graphs.repeat_interleave(n_max)
        # Permute the CSR: graph g's nonzeros are one contiguous range, moved whole to its slot.
        crow, col = self.laplacian.crow_indices(), self.laplacian.col_indices()
        row_len = torch.zeros(offset, dtype=torch.long, device=dev)
        row_len[self.padded_row] = crow.diff()
        crow_p = torch.zeros(offset + 1, dtype=torch.long, device=dev)
        crow_p[1:] = torch.cumsum(row_len, 0)
        nnz_start = crow[self.ptr[:-1]]
        nnz_len = crow[self.ptr[1:]] - nnz_start
        slot_order = torch.cat([g for g, *_ in layout]) if layout else order.to(dev)
        lengths = nnz_len[slot_order]
        take = torch.repeat_interleave(nnz_start[slot_order] - (torch.cumsum(lengths, 0) - lengths), lengths)
        take = take + torch.arange(take.numel(), device=dev)
        values = self.laplacian.values()[take]
        col_p = self.padded_row[col[take]]
        if crow_p[-1] < 2**31 - 1 and offset < 2**31 - 1:
            # int32 indices: the sparse kernel would otherwise convert them at every product (~20% of its time)
            crow_p, col_p = crow_p.to(torch.int32), col_p.to(torch.int32)
        with quiet_csr():
            self.padded_laplacian = torch.sparse_csr_tensor(crow_p, col_p, values, (offset, offset),
                                                             check_invariants=False)
        # For rescaling the CSR per graph: each graph's nonzeros (contiguous, in slot order) and its diagonal.
        self._slot_order, self._slot_nnz = slot_order, lengths
        # Every node row holds one diagonal entry, 1, and with non-negative weights it is the row's only
        # positive entry (off the diagonal: -w_ij / sqrt(d_i d_j) <= 0); rows in order, padding rows empty.
        self._diagonal_index = torch.nonzero(values > 0).flatten()
        self._diagonal_graph = self.padded_graph[torch.nonzero(self._gather < self.num_nodes).flatten()]
        self._trivial_padded = self.to_padded(self.trivial)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_graphs={self.num_graphs}, num_nodes={self.num_nodes})"

    # ------------------------------------------------------------------ basics
    def matmul(self, x: Tensor) -> Tensor:
        """:math:`L x` for ``x`` of shape ``[N, m]``."""
        return torch.sparse.mm(self.laplacian, x)

    def deflate(self, x: Tensor) -> Tensor:
        """Remove each graph's trivial component: :math:`x - u_g u_g^\\top x` block by block."""
        return self.from_padded(self.deflate_padded(self.to_padded(x.to(self.dtype))))

    def to_padded(self, x: Tensor, out: Optional[Tensor] = None) -> Tensor:
        """``[N, m]`` node rows to the ``[P, m]`` padded layout (zero padding rows), into ``out`` if given."""
        if out is None:
            return torch.cat([x, x.new_zeros(1, x.size(1))])[self._gather]
        return out.index_fill_(0, self._padding_rows, 0.0).index_copy_(0, self.padded_row, x.to(out.dtype))

    def from_padded(self, xp: Tensor) -> Tensor:
        """``[P, m]`` padded rows back to ``[N, m]`` node rows."""
        return xp[self.padded_row]

    def views(self, xp: Tensor):
        """Each group's ``[b, n_max, m]`` view of a padded block (no copy)."""
        m = xp.size(1)
        return [xp[first:first + count * n_max].view(count, n_max, m) for _, first, count, n_max in self.layout]

    def deflate_padded(self, xp: Tensor) -> Tensor:
        """Deflate a padded block in place (and return it)."""
        for x, t in zip(self.views(xp), self.views(self._trivial_padded)):
            x.baddbmm_(t, torch.bmm(t.transpose(1, 2), x), alpha=-1.0)  # x - t (t^T x)
        return xp

    def shifted(self, shift: Tensor, scale: Tensor) -> Tensor:
        r"""Padded CSR of :math:`s_g\,((1 - c_g) I - L)` on each graph ``g``, ``shift`` c and ``scale`` s
        given per graph (``[B]``)."""
        values = torch.repeat_interleave(-scale[self._slot_order], self._slot_nnz) * self.padded_laplacian.values()
        values[self._diagonal_index] += (scale * (1.0 - shift))[self._diagonal_graph]
        with quiet_csr():
            return torch.sparse_csr_tensor(self.padded_laplacian.crow_indices(),
                                           self.padded_laplacian.col_indices(), values,
                                           self.padded_laplacian.shape, check_invariants=False)

    # ------------------------------------------------------ per-graph eigensolver
    @property
    def solver(self) -> "BatchedSubspaceSolver":
        """The batched per-graph eigensolver on this operator
        (:class:`~pyg_spectral.spectrum.batched.BatchedSubspaceSolver`)."""
        if self._solver is None:
            from ..spectrum.batched import BatchedSubspaceSolver

            self._solver = BatchedSubspaceSolver(self)
        return self._solver

    def rayleigh_ritz(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Per-graph Rayleigh–Ritz (see :meth:`BatchedSubspaceSolver.rayleigh_ritz`)."""
        return self.solver.rayleigh_ritz(x)

    def chebyshev_filter(self, x: Tensor, cutoff: Tensor, degree: int, low: Optional[Tensor] = None,
                         max_growth: Optional[float] = None) -> Tensor:
        """Per-graph Chebyshev filter (see :meth:`BatchedSubspaceSolver.chebyshev_filter`)."""
        return self.solver.chebyshev_filter(x, cutoff, degree, low, max_growth)

    def subspace_iteration(self, x: Tensor, degree: int, rounds: int, **kwargs) -> Tuple[Tensor, Tensor]:
        """Per-graph filtered subspace iteration (see :meth:`BatchedSubspaceSolver.subspace_iteration`)."""
        return self.solver.subspace_iteration(x, degree, rounds, **kwargs)
