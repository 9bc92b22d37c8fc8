r"""The normalized Laplacian of a batch of graphs, with per-graph linear algebra.

A PyG :class:`~torch_geometric.data.Batch` is a disjoint union, so its
Laplacian is block diagonal. One sparse matmul applies every block at once;
what must stay per graph is the linear algebra on top (the trivial vector,
Gram matrices, Rayleigh–Ritz, the filter's cutoff). This module does that
with padded ``[B, n_max, m]`` tensors and batched dense kernels, so that a
thousand small graphs cost a few large operations instead of a thousand
small ones.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from .laplacian import NormalizedLaplacian

__all__ = ["BlockDiagonalLaplacian"]


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
        dtype: dtype of the operator (float64 by default: the filter
            amplifies some directions by up to ``1e10`` over others).

    Example:
        >>> from torch_geometric.data import Batch
        >>> b = Batch.from_data_list(graphs)
        >>> op = BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)
        >>> theta, u = op.subspace_iteration(torch.randn(b.num_nodes, 16, dtype=torch.float64),
        ...                                  degree=16, rounds=2)
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, batch: Tensor, num_graphs: int,
                 edge_weight: Optional[Tensor] = None, dtype: torch.dtype = torch.float64):
        op = NormalizedLaplacian.from_edge_index(edge_index, edge_weight, num_nodes, dtype=dtype, check=False)
        self.laplacian = op.laplacian
        self.num_nodes, self.num_graphs, self.dtype = int(num_nodes), int(num_graphs), dtype
        self.batch = batch
        self.sizes = torch.bincount(batch, minlength=self.num_graphs)
        self.ptr = torch.zeros(self.num_graphs + 1, dtype=torch.long, device=batch.device)
        self.ptr[1:] = torch.cumsum(self.sizes, 0)
        #: index of each node inside its own graph
        self.position = torch.arange(self.num_nodes, device=batch.device) - self.ptr[batch]
        if self.num_graphs and int(self.sizes.min()) < 2:
            raise ValueError("BlockDiagonalLaplacian needs graphs of at least two nodes "
                             "(an isolated node has no trivial eigenvector D^{1/2} 1).")
        root = op.degree.to(dtype).sqrt().unsqueeze(-1)
        if bool((root == 0).any()):
            raise ValueError("BlockDiagonalLaplacian needs connected graphs: found an isolated node.")
        norm = scatter(root * root, batch, dim=0, dim_size=self.num_graphs, reduce="sum").sqrt()
        self.trivial = root / norm[batch]  # [N, 1], unit norm per graph
        crow = self.laplacian.crow_indices()
        self._row = torch.repeat_interleave(torch.arange(self.num_nodes, device=crow.device), crow.diff())
        self._diagonal = self._row == self.laplacian.col_indices()
        self._group_cache: dict = {}
        self._small_cache: dict = {}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_graphs={self.num_graphs}, num_nodes={self.num_nodes})"

    # ------------------------------------------------------------------ basics
    def matmul(self, x: Tensor) -> Tensor:
        """:math:`L x` for ``x`` of shape ``[N, m]``."""
        return torch.sparse.mm(self.laplacian, x)

    def deflate(self, x: Tensor) -> Tensor:
        """Remove each graph's trivial component: :math:`x - u_g u_g^\\top x` block by block."""
        coef = scatter(self.trivial * x, self.batch, dim=0, dim_size=self.num_graphs, reduce="sum")
        return x - self.trivial * coef[self.batch]

    def _shifted(self, shift: Tensor, scale: Tensor) -> Tensor:
        """CSR of :math:`\\mathrm{diag}(s)\\,((1 - c) I - L)` with per-node ``shift`` c and ``scale`` s."""
        s = scale[self._row]
        values = torch.where(self._diagonal, s * (1.0 - shift[self._row]), torch.zeros_like(s))
        values = values - s * self.laplacian.values()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            return torch.sparse_csr_tensor(self.laplacian.crow_indices(), self.laplacian.col_indices(), values,
                                           self.laplacian.shape, check_invariants=False)

    # ------------------------------------------------------------ Rayleigh–Ritz
    def _groups(self, min_size: int):
        """Graphs of more than ``min_size`` nodes, grouped by size (within a factor 1.5) so that padding
        each group to ``[b, n_max, m]`` wastes little. Each group: ``(graph ids, node rows, flat positions
        of those rows in the padded block, b, n_max)``."""
        key = int(min_size)
        if key not in self._group_cache:
            sizes, ptr = self.sizes.cpu(), self.ptr.cpu()
            order = torch.argsort(sizes, descending=True, stable=True)
            order = order[sizes[order] > key]
            groups, start, dev = [], 0, self.batch.device
            while start < order.numel():
                end = start + 1
                while end < order.numel() and 1.5 * sizes[order[end]] >= sizes[order[start]]:
                    end += 1
                graphs = order[start:end]
                n_max = int(sizes[graphs].max())
                rows = torch.cat([torch.arange(int(ptr[g]), int(ptr[g + 1])) for g in graphs.tolist()])
                pos = torch.cat([i * n_max + torch.arange(int(sizes[g])) for i, g in enumerate(graphs.tolist())])
                groups.append((graphs.to(dev), rows.to(dev), pos.to(dev), end - start, n_max))
                start = end
            self._group_cache[key] = groups
        return self._group_cache[key]

    @staticmethod
    def _pad(x: Tensor, rows: Tensor, pos: Tensor, count: int, n_max: int) -> Tensor:
        out = x.new_zeros(count * n_max, x.size(1))
        out[pos] = x[rows]
        return out.view(count, n_max, x.size(1))

    def _small_graphs(self, max_size: int) -> Optional[Tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Exact non-trivial eigenpairs of the graphs with at most ``max_size`` nodes, by dense ``eigh``:
        ``(graph ids, eigenvalues [b, max_size], node rows, eigenvectors [rows, max_size])``."""
        key = int(max_size)
        if key not in self._small_cache:
            small = torch.nonzero(self.sizes <= key).flatten()
            if small.numel() == 0:
                self._small_cache[key] = None
            else:
                node_small = torch.isin(self.batch, small)
                rows = torch.nonzero(node_small).flatten()
                local = torch.searchsorted(small, self.batch[rows])
                pos = self.position[rows]
                dense = torch.zeros(small.numel(), key, key, dtype=self.dtype, device=rows.device)
                lap = self.laplacian.to_sparse_coo().coalesce()
                r, c = lap.indices()
                keep = node_small[r]
                r, c, v = r[keep], c[keep], lap.values()[keep]
                dense[torch.searchsorted(small, self.batch[r]), self.position[r], self.position[c]] = v
                # Padding rows/columns get eigenvalue 3 (above every Laplacian eigenvalue) so that they sort last.
                n_small = self.sizes[small]
                pad = torch.arange(key, device=rows.device).unsqueeze(0) >= n_small.unsqueeze(1)
                dense = dense + torch.diag_embed(3.0 * pad.to(self.dtype))
                w, v = torch.linalg.eigh(dense)
                # Drop the trivial eigenvector (eigenvalue 0, first column).
                w, v = w[:, 1:], v[:, :, 1:]
                w = w.masked_fill(w > 2.5, math.inf)
                vecs = v[local, pos]  # [rows, key - 1]
                vecs = vecs.masked_fill(~torch.isfinite(w[local]), 0.0)
                self._small_cache[key] = (small, w, rows, vecs)
        return self._small_cache[key]

    def rayleigh_ritz(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Rayleigh–Ritz of :math:`L` on each graph's span of the columns of ``x`` (``[N, m]``),
        after deflation.

        Each block is orthonormalized twice through the Cholesky factor of
        its Gram matrix (CholeskyQR2: the second pass repairs what the first
        lost to ill-conditioning, as after a Chebyshev filter; a breakdown is
        retried with a small diagonal shift), and :math:`L` is projected on
        that orthonormal basis. Graphs with at most
        :math:`m + 1` nodes, whose :math:`m` deflated columns span their
        whole space so that Rayleigh–Ritz is exact, are solved exactly by
        dense ``eigh`` instead.

        Returns:
            ``(theta, u)``: Ritz values ``[B, m]`` in ascending order (``inf``
            past the :math:`n_g - 1` pairs of a small graph); Ritz vectors
            ``[N, m]`` (orthonormal per graph; zero columns where ``inf``).
        """
        x = self.deflate(x.to(self.dtype))
        m = x.size(1)
        theta = torch.full((self.num_graphs, m), math.inf, dtype=self.dtype, device=x.device)
        u = torch.zeros_like(x)
        small = self._small_graphs(m + 1)
        if small is not None:
            graphs, w, rows, vecs = small
            theta[graphs] = w[:, :m]
            u[rows] = vecs[:, :m]
        groups = self._groups(m + 1)
        if not groups:
            return theta, u
        bases = []
        for graphs, rows, pos, count, n_max in groups:
            xd = self._pad(x, rows, pos, count, n_max)
            xd = xd / xd.norm(dim=1, keepdim=True).clamp_min(torch.finfo(self.dtype).tiny)
            q = xd @ self._inverse_cholesky(xd.transpose(1, 2) @ xd)
            q = q @ self._inverse_cholesky(q.transpose(1, 2) @ q)
            u[rows] = q.view(-1, m)[pos]
            bases.append(q)
        lu = self.matmul(u)  # L on every orthonormal basis at once (small graphs' rows: unused)
        h = torch.cat([q.transpose(1, 2) @ self._pad(lu, rows, pos, count, n_max)
                       for q, (_, rows, pos, count, n_max) in zip(bases, groups)])
        th, y = torch.linalg.eigh(0.5 * (h + h.transpose(1, 2)))
        start = 0
        for q, (graphs, rows, pos, count, _) in zip(bases, groups):
            theta[graphs] = th[start:start + count]
            u[rows] = (q @ y[start:start + count]).view(-1, m)[pos]
            start += count
        return theta, u

    def _inverse_cholesky(self, gram: Tensor) -> Tensor:
        r""":math:`R^{-1}` with :math:`R^\top R` = ``gram`` (``[b, m, m]``); blocks whose factorization breaks
        down (rank-deficient columns) are shifted by ``1e-12 * trace``, then more until it succeeds."""
        gram = 0.5 * (gram + gram.transpose(1, 2))
        eye = torch.eye(gram.size(-1), dtype=gram.dtype, device=gram.device)
        factor, info = torch.linalg.cholesky_ex(gram, upper=True)
        shift = 1e-12
        while bool((info > 0).any()):
            bad = info > 0
            trace = gram[bad].diagonal(dim1=1, dim2=2).sum(-1).clamp_min(torch.finfo(gram.dtype).tiny)
            factor[bad], info[bad] = torch.linalg.cholesky_ex(gram[bad] + shift * trace[:, None, None] * eye,
                                                              upper=True)
            shift *= 100.0
        return torch.linalg.solve_triangular(factor, eye.expand_as(factor), upper=True)

    # ---------------------------------------------------------------- filtering
    def chebyshev_filter(self, x: Tensor, cutoff: Tensor, degree: int, low: Optional[Tensor] = None,
                         max_growth: float = 1e10) -> Tensor:
        r"""Apply :math:`p_g(L)` to each graph's block of ``x``, where :math:`p_g` is the degree-``degree``
        Chebyshev polynomial that stays in :math:`[-1, 1]` on :math:`[c_g, 2]` (damped) and grows
        fastest below the cutoff :math:`c_g` (``cutoff``, ``[B]``).

        In terms of :math:`A = I - L` (spectrum in :math:`[-1, 1]`),
        :math:`p_g(A) = T_d\big((2A - (a_g - 1)) / (a_g + 1)\big)` with
        :math:`a_g = 1 - c_g`, applied by the three-term recurrence, one sparse
        matmul per degree (each folded into one ``addmm`` with a per-row
        scaled copy of :math:`L`).

        ``low`` (``[B]``, e.g. the smallest Ritz value) bounds the growth: the
        cutoff is lowered where needed so that :math:`p_g(\mathrm{low}_g) \le`
        ``max_growth``; beyond that, float64 would lose the directions near
        the cutoff against those near ``low``.
        """
        if degree < 1:
            return x
        cutoff = cutoff.to(self.dtype).clamp(1e-4, 1.999)
        if low is not None:
            # Largest y with T_d(y) <= max_growth, then the cutoff that maps 1 - low to y.
            y_max = math.cosh(math.acosh(max_growth) / degree)
            top = 1.0 - low.to(self.dtype).clamp(0.0, 2.0)
            # y(top) = (2 top - a + 1) / (a + 1) <= y_max  <=>  a >= (2 top + 1 - y_max) / (1 + y_max)
            a_min = (2.0 * top + 1.0 - y_max) / (1.0 + y_max)
            cutoff = torch.minimum(cutoff, 1.0 - a_min)
        a = (1.0 - cutoff)[self.batch]
        center, half = (a - 1.0) / 2.0, (a + 1.0) / 2.0
        step = self._shifted(center, 2.0 / half)  # 2 S, S = (A - center) / half
        y0 = x.to(self.dtype, copy=True)
        y1 = 0.5 * torch.sparse.mm(step, y0)
        for _ in range(2, int(degree) + 1):
            # y_{j+1} = 2 S y_j - y_{j-1}, written over y_{j-1}: no allocation, no copy.
            torch.addmm(y0, step, y1, beta=-1.0, out=y0)
            y0, y1 = y1, y0
        return y1

    def subspace_iteration(self, x: Tensor, degree: int, rounds: int) -> Tuple[Tensor, Tensor]:
        r"""Chebyshev-filtered subspace iteration (Zhou & Saad, 2007) from the start block ``x``:
        Rayleigh–Ritz, then ``rounds`` times (filter of degree ``degree`` damping
        everything above the largest Ritz value; Rayleigh–Ritz).

        Returns ``(theta, u)`` as :meth:`rayleigh_ritz`.
        """
        theta, u = self.rayleigh_ritz(x)
        for _ in range(int(rounds)):
            finite = torch.isfinite(theta)
            top = theta.masked_fill(~finite, -math.inf).amax(1)
            low = theta[:, 0]
            u = self.chebyshev_filter(u, top, degree, low=low)
            theta, u = self.rayleigh_ritz(u)
        return theta, u
