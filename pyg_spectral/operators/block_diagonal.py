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

from ..utils.sparse import quiet_csr
from ..utils.workspace import Workspace
from .laplacian import NormalizedLaplacian

__all__ = ["BlockDiagonalLaplacian"]

#: Default bound on a Chebyshev filter's growth per dtype: how far apart the filtered directions may drift
#: before rounding merges them (the growth within a filter round is what CholeskyQR2 must still resolve).
MAX_GROWTH = {torch.float64: 1e10, torch.float32: 1e4}


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
        >>> from torch_geometric.data import Batch
        >>> b = Batch.from_data_list(graphs)
        >>> op = BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)
        >>> theta, u = op.subspace_iteration(torch.randn(b.num_nodes, 16, dtype=torch.float64),
        ...                                  degree=16, rounds=2)
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
        self._small_cache: dict = {}

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
            self._padded_laplacian = torch.sparse_csr_tensor(crow_p, col_p, values, (offset, offset),
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
        return self.from_padded(self._deflate_padded(self.to_padded(x.to(self.dtype))))

    def to_padded(self, x: Tensor, out: Optional[Tensor] = None) -> Tensor:
        """``[N, m]`` node rows to the ``[P, m]`` padded layout (zero padding rows), into ``out`` if given."""
        if out is None:
            return torch.cat([x, x.new_zeros(1, x.size(1))])[self._gather]
        return out.index_fill_(0, self._padding_rows, 0.0).index_copy_(0, self.padded_row, x.to(out.dtype))

    def from_padded(self, xp: Tensor) -> Tensor:
        """``[P, m]`` padded rows back to ``[N, m]`` node rows."""
        return xp[self.padded_row]

    def _views(self, xp: Tensor):
        """Each group's ``[b, n_max, m]`` view of a padded block (no copy)."""
        m = xp.size(1)
        return [xp[first:first + count * n_max].view(count, n_max, m) for _, first, count, n_max in self.layout]

    def _deflate_padded(self, xp: Tensor) -> Tensor:
        """Deflate a padded block in place (and return it)."""
        for x, t in zip(self._views(xp), self._views(self._trivial_padded)):
            x.baddbmm_(t, torch.bmm(t.transpose(1, 2), x), alpha=-1.0)  # x - t (t^T x)
        return xp

    def _shifted(self, shift: Tensor, scale: Tensor) -> Tensor:
        r"""Padded CSR of :math:`s_g\,((1 - c_g) I - L)` on each graph ``g``, ``shift`` c and ``scale`` s
        given per graph (``[B]``)."""
        values = torch.repeat_interleave(-scale[self._slot_order], self._slot_nnz) * self._padded_laplacian.values()
        values[self._diagonal_index] += (scale * (1.0 - shift))[self._diagonal_graph]
        with quiet_csr():
            return torch.sparse_csr_tensor(self._padded_laplacian.crow_indices(),
                                           self._padded_laplacian.col_indices(), values,
                                           self._padded_laplacian.shape, check_invariants=False)

    # ------------------------------------------------------------ Rayleigh–Ritz
    def _small_graphs(self, max_size: int) -> Optional[Tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Exact non-trivial eigenpairs of the graphs with at most ``max_size`` nodes, by dense ``eigh``:
        ``(graph ids, eigenvalues [b, max_size - 1], padded rows, eigenvectors [rows, max_size - 1])``."""
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
                crow = self.laplacian.crow_indices()
                r = torch.repeat_interleave(torch.arange(self.num_nodes, device=crow.device), crow.diff())
                c, v = self.laplacian.col_indices(), self.laplacian.values()
                keep = node_small[r]
                r, c, v = r[keep], c[keep], v[keep]
                dense[torch.searchsorted(small, self.batch[r]), self.position[r], self.position[c]] = v
                # Padding rows/columns get eigenvalue 3 (above every Laplacian eigenvalue) so that they sort last.
                n_small = self.sizes[small]
                pad = torch.arange(key, device=rows.device).unsqueeze(0) >= n_small.unsqueeze(1)
                dense = dense + torch.diag_embed(3.0 * pad.to(self.dtype))
                w, vec = torch.linalg.eigh(dense)
                # Drop the trivial eigenvector (eigenvalue 0, first column).
                w, vec = w[:, 1:], vec[:, :, 1:]
                w = w.masked_fill(w > 2.5, math.inf)
                vecs = vec[local, pos]  # [rows, key - 1]
                vecs = vecs.masked_fill(~torch.isfinite(w[local]), 0.0)
                self._small_cache[key] = (small, w, self.padded_row[rows], vecs)
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
        xp = self._deflate_padded(self.to_padded(x.to(self.dtype)))
        theta, up = self._rayleigh_ritz_padded(xp)
        return theta, self.from_padded(up)

    def _rayleigh_ritz_padded(self, xp: Tensor, spare: Optional[Tuple[Tensor, Tensor]] = None
                              ) -> Tuple[Tensor, Tensor]:
        """:meth:`rayleigh_ritz` of a deflated block in the padded layout, written over ``xp`` (returned);
        ``spare``: two blocks of ``xp``'s shape to work in (default: fresh)."""
        m = xp.size(1)
        theta = torch.full((self.num_graphs, m), math.inf, dtype=self.dtype, device=xp.device)
        # Groups of graphs small enough to be solved exactly are skipped; a small graph inside a larger
        # group goes through the Gram path (its Cholesky is shifted) and is then overwritten below.
        work = [i for i, (*_, n_max) in enumerate(self.layout) if n_max > m + 1]
        if spare is None:
            spare = (torch.empty_like(xp), torch.empty_like(xp))
        basis, lbasis = spare
        if work:
            counts = [self.layout[i][2] for i in work]
            views, first = self._views(xp), self._views(basis)
            # Per-graph [m, m] work is batched over all groups at once; only the [n, m] products are per group.
            gram = torch.cat([torch.bmm(views[i].transpose(1, 2), views[i]) for i in work])
            # Unit columns (folded into the factor: no pass over x), then CholeskyQR twice; the second factor
            # stays small and is applied at the end, with the Ritz rotation.
            scale = gram.diagonal(dim1=1, dim2=2).clamp_min(torch.finfo(self.dtype).tiny).rsqrt()
            factor = scale.unsqueeze(2) * self._inverse_cholesky(gram * scale.unsqueeze(2) * scale.unsqueeze(1))
            for i, f in zip(work, factor.split(counts)):
                torch.bmm(views[i], f, out=first[i])
            second = self._inverse_cholesky(torch.cat([torch.bmm(first[i].transpose(1, 2), first[i])
                                                       for i in work]))
            self._zero_outside(basis, work)  # the product reads every row
            # L on every basis at once (beta = 0: the spare block's old contents are ignored)
            lviews = self._views(torch.addmm(lbasis, self._padded_laplacian, basis, beta=0.0, out=lbasis))
            h = torch.cat([torch.bmm(first[i].transpose(1, 2), lviews[i]) for i in work])
            h = second.transpose(1, 2) @ h @ second
            th, y = torch.linalg.eigh(0.5 * (h + h.transpose(1, 2)))
            out = self._views(xp)
            for i, c in zip(work, (second @ y).split(counts)):
                torch.bmm(first[i], c, out=out[i])
            theta[torch.cat([self.layout[i][0] for i in work])] = th
        self._zero_outside(xp, work)
        small = self._small_graphs(m + 1)
        if small is not None:
            graphs, w, rows, vecs = small
            theta[graphs] = w[:, :m]
            xp[rows] = vecs[:, :m]
        return theta, xp

    def _zero_outside(self, xp: Tensor, written) -> None:
        """Zero the rows of the groups not in ``written`` (those the caller did not fill)."""
        for i, (_, first, count, n_max) in enumerate(self.layout):
            if i not in written:
                xp[first:first + count * n_max].zero_()

    def _inverse_cholesky(self, gram: Tensor) -> Tensor:
        r""":math:`R^{-1}` with :math:`R^\top R` = ``gram`` (``[b, m, m]``); blocks whose factorization breaks
        down (rank-deficient columns) are shifted by ``5000 eps * trace``, then more until it succeeds."""
        gram = 0.5 * (gram + gram.transpose(1, 2))
        eye = torch.eye(gram.size(-1), dtype=gram.dtype, device=gram.device)
        factor, info = torch.linalg.cholesky_ex(gram, upper=True)
        shift = 5e3 * torch.finfo(gram.dtype).eps
        while bool((info > 0).any()):
            bad = info > 0
            trace = gram[bad].diagonal(dim1=1, dim2=2).sum(-1).clamp_min(torch.finfo(gram.dtype).tiny)
            factor[bad], info[bad] = torch.linalg.cholesky_ex(gram[bad] + shift * trace[:, None, None] * eye,
                                                              upper=True)
            shift *= 100.0
        return torch.linalg.solve_triangular(factor, eye.expand_as(factor), upper=True)

    # ---------------------------------------------------------------- filtering
    def chebyshev_filter(self, x: Tensor, cutoff: Tensor, degree: int, low: Optional[Tensor] = None,
                         max_growth: Optional[float] = None) -> Tensor:
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
        ``max_growth`` (default :data:`MAX_GROWTH` of the dtype); beyond that,
        rounding would lose the directions near the cutoff against those
        near ``low``.
        """
        if degree < 1:
            return x
        return self.from_padded(self._chebyshev_padded(self.to_padded(x.to(self.dtype)), cutoff, degree, low,
                                                       max_growth)[0])

    def _chebyshev_padded(self, xp: Tensor, cutoff: Tensor, degree: int, low: Optional[Tensor],
                          max_growth: Optional[float], spare: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """The filter of :meth:`chebyshev_filter` on a padded block, overwriting ``xp``; ``spare``: a block of
        ``xp``'s shape to work in (default: fresh). Returns ``(result, free)``: the two blocks, the first
        holding the filtered block (either of the two, by the degree's parity), the second free."""
        max_growth = MAX_GROWTH[self.dtype] if max_growth is None else float(max_growth)
        cutoff = cutoff.to(self.dtype).clamp(1e-4, 1.999)
        if low is not None:
            # Largest y with T_d(y) <= max_growth, then the cutoff that maps 1 - low to y.
            y_max = math.cosh(math.acosh(max_growth) / degree)
            top = 1.0 - low.to(self.dtype).clamp(0.0, 2.0)
            # y(top) = (2 top - a + 1) / (a + 1) <= y_max  <=>  a >= (2 top + 1 - y_max) / (1 + y_max)
            a_min = (2.0 * top + 1.0 - y_max) / (1.0 + y_max)
            cutoff = torch.minimum(cutoff, 1.0 - a_min)
        a = 1.0 - cutoff
        center, half = (a - 1.0) / 2.0, (a + 1.0) / 2.0
        step = self._shifted(center, 2.0 / half)  # 2 S, S = (A - center) / half
        y0, y1 = xp, torch.empty_like(xp) if spare is None else spare
        torch.addmm(y1, step, y0, beta=0.0, alpha=0.5, out=y1)
        for _ in range(2, int(degree) + 1):
            # y_{j+1} = 2 S y_j - y_{j-1}, written over y_{j-1}: no allocation, no copy.
            torch.addmm(y0, step, y1, beta=-1.0, out=y0)
            y0, y1 = y1, y0
        return y1, y0

    def subspace_iteration(self, x: Tensor, degree: int, rounds: int, max_growth: Optional[float] = None,
                           initial_ritz: bool = True, fix_signs: bool = False,
                           workspace: Optional[Workspace] = None) -> Tuple[Tensor, Tensor]:
        r"""Chebyshev-filtered subspace iteration (Zhou & Saad, 2007) from the start block ``x``:
        Rayleigh–Ritz, then ``rounds`` times (filter of degree ``degree`` damping
        everything above the largest Ritz value, growth bounded by ``max_growth``
        as in :meth:`chebyshev_filter`; Rayleigh–Ritz).

        ``initial_ritz=False`` skips the first Rayleigh–Ritz: the first filter
        takes its cutoff and growth bound from the largest and smallest Rayleigh
        quotients of ``x``'s own columns and filters ``x`` as it is. That is for
        a start whose columns already approximate eigenvectors, such as a
        trained network's output (measured on the inductive PE model: one
        Rayleigh–Ritz fewer and a better result, ``benchmarks/pe_throughput.py``);
        random columns have Rayleigh quotients near 1 and need the default.

        ``fix_signs``: make the entry of largest magnitude of each graph's
        column positive (the first such row on ties), the rule of
        :func:`pyg_spectral.spectrum.fix_signs` graph by graph.

        ``workspace``: where the three ``[P, m]`` working blocks come from
        (:class:`~pyg_spectral.utils.workspace.Workspace`, kept by the caller to reuse them from batch to
        batch; default: fresh blocks).

        Returns ``(theta, u)`` as :meth:`rayleigh_ritz`.
        """
        ws = Workspace() if workspace is None else workspace
        shape = (self.padded_size, x.size(1))
        up, a, b = (ws.get(f"BlockDiagonalLaplacian.block{i}", shape, self.dtype, x.device) for i in range(3))
        self._deflate_padded(self.to_padded(x, out=up))
        if initial_ritz or rounds < 1:
            theta, up = self._rayleigh_ritz_padded(up, (a, b))
            top, low = self._ritz_bounds(theta)
        else:
            top, low = self._rayleigh_quotient_bounds(up, a)
        for _ in range(int(rounds)):
            up, a = self._chebyshev_padded(up, top, degree, low, max_growth, a)
            # The filter keeps each block in its graph's non-trivial subspace only up to rounding.
            theta, up = self._rayleigh_ritz_padded(self._deflate_padded(up), (a, b))
            top, low = self._ritz_bounds(theta)
        if fix_signs:
            for block in self._views(up):  # [b, n_max, m]; padding rows are zero and never the largest
                top_entry = torch.gather(block, 1, block.abs().argmax(dim=1, keepdim=True))
                block.mul_(torch.where(top_entry < 0, -1.0, 1.0).to(block.dtype))
        return theta, self.from_padded(up)

    @staticmethod
    def _ritz_bounds(theta: Tensor) -> Tuple[Tensor, Tensor]:
        """Filter cutoff (largest finite Ritz value) and growth reference (smallest) per graph."""
        return theta.masked_fill(~torch.isfinite(theta), -math.inf).amax(1), theta[:, 0]

    def _rayleigh_quotient_bounds(self, xp: Tensor, spare: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Largest and smallest Rayleigh quotient of each graph's columns of a padded block (``spare``: a
        block of its shape to work in)."""
        lx = torch.empty_like(xp) if spare is None else spare
        torch.addmm(lx, self._padded_laplacian, xp, beta=0.0, out=lx)
        top = torch.zeros(self.num_graphs, dtype=self.dtype, device=xp.device)
        low = torch.zeros_like(top)
        for (graphs, *_), x, y in zip(self.layout, self._views(xp), self._views(lx)):
            # diagonals of the small products x^T y and x^T x: no [n, m] temporaries
            xty = torch.bmm(x.transpose(1, 2), y).diagonal(dim1=1, dim2=2)
            xtx = torch.bmm(x.transpose(1, 2), x).diagonal(dim1=1, dim2=2)
            quotient = xty / xtx.clamp_min(torch.finfo(self.dtype).tiny)
            top[graphs], low[graphs] = quotient.amax(1), quotient.amin(1)
        return top, low
