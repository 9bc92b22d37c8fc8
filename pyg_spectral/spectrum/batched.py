r"""The batched per-graph eigensolver of a PyG ``Batch``: Chebyshev-filtered subspace iteration with
Rayleigh–Ritz graph by graph, in the padded layout of
:class:`~pyg_spectral.operators.BlockDiagonalLaplacian`.

Every graph of the batch shares each sparse product and each batched dense kernel (Gram matrices,
Cholesky factors, the small ``eigh``), so a thousand small graphs cost a few large operations.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..exceptions import DivergenceError
from ..utils.workspace import Workspace
from .growth import MAX_GROWTH

__all__ = ["BatchedSubspaceSolver", "MAX_GROWTH"]

#: Diagonal shifts tried on a Cholesky factorization that breaks down (x100 each time) before giving up.
MAX_CHOLESKY_RETRIES = 8


class BatchedSubspaceSolver:
    """Per-graph Rayleigh–Ritz, Chebyshev filtering and subspace iteration on a
    :class:`~pyg_spectral.operators.BlockDiagonalLaplacian` ``op``.

    Example:
        >>> import torch
        >>> from torch_geometric.data import Batch
        >>> from pyg_spectral.datasets import cycle_graph, path_graph
        >>> from pyg_spectral.operators import BlockDiagonalLaplacian
        >>> b = Batch.from_data_list([cycle_graph(12), path_graph(9)])
        >>> op = BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)
        >>> x = torch.randn(b.num_nodes, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> theta, u = op.solver.subspace_iteration(x, degree=10, rounds=4)
        >>> round(float(theta[0, 0]), 6)     # cycle C_12: 1 - cos(2 pi / 12), twice
        0.133975
    """

    def __init__(self, op):
        self.op = op
        self._small_cache: dict = {}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.op!r})"

    # ------------------------------------------------------------ Rayleigh–Ritz
    def _small_graphs(self, max_size: int) -> Optional[Tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Exact non-trivial eigenpairs of the graphs with at most ``max_size`` nodes, by dense ``eigh``:
        ``(graph ids, eigenvalues [b, max_size - 1], padded rows, eigenvectors [rows, max_size - 1])``."""
        key = int(max_size)
        if key not in self._small_cache:
            small = torch.nonzero(self.op.sizes <= key).flatten()
            if small.numel() == 0:
                self._small_cache[key] = None
            else:
                node_small = torch.isin(self.op.batch, small)
                rows = torch.nonzero(node_small).flatten()
                local = torch.searchsorted(small, self.op.batch[rows])
                pos = self.op.position[rows]
                dense = torch.zeros(small.numel(), key, key, dtype=self.op.dtype, device=rows.device)
                crow = self.op.laplacian.crow_indices()
                r = torch.repeat_interleave(torch.arange(self.op.num_nodes, device=crow.device), crow.diff())
                c, v = self.op.laplacian.col_indices(), self.op.laplacian.values()
                keep = node_small[r]
                r, c, v = r[keep], c[keep], v[keep]
                dense[torch.searchsorted(small, self.op.batch[r]), self.op.position[r], self.op.position[c]] = v
                # Padding rows/columns get eigenvalue 3 (above every Laplacian eigenvalue) so that they sort last.
                n_small = self.op.sizes[small]
                pad = torch.arange(key, device=rows.device).unsqueeze(0) >= n_small.unsqueeze(1)
                dense = dense + torch.diag_embed(3.0 * pad.to(self.op.dtype))
                w, vec = torch.linalg.eigh(dense)
                # Drop the trivial eigenvector (eigenvalue 0, first column).
                w, vec = w[:, 1:], vec[:, :, 1:]
                w = w.masked_fill(w > 2.5, math.inf)
                vecs = vec[local, pos]  # [rows, key - 1]
                vecs = vecs.masked_fill(~torch.isfinite(w[local]), 0.0)
                self._small_cache[key] = (small, w, self.op.padded_row[rows], vecs)
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
        xp = self.op.deflate_padded(self.op.to_padded(x.to(self.op.dtype)))
        theta, up = self._rayleigh_ritz_padded(xp)
        return theta, self.op.from_padded(up)

    def _rayleigh_ritz_padded(self, xp: Tensor, spare: Optional[Tuple[Tensor, Tensor]] = None
                              ) -> Tuple[Tensor, Tensor]:
        """:meth:`rayleigh_ritz` of a deflated block in the padded layout, written over ``xp`` (returned);
        ``spare``: two blocks of ``xp``'s shape to work in (default: fresh)."""
        m = xp.size(1)
        theta = torch.full((self.op.num_graphs, m), math.inf, dtype=self.op.dtype, device=xp.device)
        # Groups of graphs small enough to be solved exactly are skipped; a small graph inside a larger
        # group goes through the Gram path (its Cholesky is shifted) and is then overwritten below.
        work = [i for i, (*_, n_max) in enumerate(self.op.layout) if n_max > m + 1]
        if spare is None:
            spare = (torch.empty_like(xp), torch.empty_like(xp))
        basis, lbasis = spare
        if work:
            counts = [self.op.layout[i][2] for i in work]
            views, first = self.op.views(xp), self.op.views(basis)
            # Per-graph [m, m] work is batched over all groups at once; only the [n, m] products are per group.
            gram = torch.cat([torch.bmm(views[i].transpose(1, 2), views[i]) for i in work])
            # Unit columns (folded into the factor: no pass over x), then CholeskyQR twice; the second factor
            # stays small and is applied at the end, with the Ritz rotation.
            scale = gram.diagonal(dim1=1, dim2=2).clamp_min(torch.finfo(self.op.dtype).tiny).rsqrt()
            factor = scale.unsqueeze(2) * self._inverse_cholesky(gram * scale.unsqueeze(2) * scale.unsqueeze(1))
            for i, f in zip(work, factor.split(counts)):
                torch.bmm(views[i], f, out=first[i])
            second = self._inverse_cholesky(torch.cat([torch.bmm(first[i].transpose(1, 2), first[i])
                                                       for i in work]))
            self._zero_outside(basis, work)  # the product reads every row
            # L on every basis at once (beta = 0: the spare block's old contents are ignored)
            lviews = self.op.views(torch.addmm(lbasis, self.op.padded_laplacian, basis, beta=0.0, out=lbasis))
            h = torch.cat([torch.bmm(first[i].transpose(1, 2), lviews[i]) for i in work])
            h = second.transpose(1, 2) @ h @ second
            th, y = torch.linalg.eigh(0.5 * (h + h.transpose(1, 2)))
            out = self.op.views(xp)
            for i, c in zip(work, (second @ y).split(counts)):
                torch.bmm(first[i], c, out=out[i])
            theta[torch.cat([self.op.layout[i][0] for i in work])] = th
        self._zero_outside(xp, work)
        small = self._small_graphs(m + 1)
        if small is not None:
            graphs, w, rows, vecs = small
            theta[graphs] = w[:, :m]
            xp[rows] = vecs[:, :m]
        return theta, xp

    def _zero_outside(self, xp: Tensor, written) -> None:
        """Zero the rows of the groups not in ``written`` (those the caller did not fill)."""
        for i, (_, first, count, n_max) in enumerate(self.op.layout):
            if i not in written:
                xp[first:first + count * n_max].zero_()

    def _inverse_cholesky(self, gram: Tensor) -> Tensor:
        r""":math:`R^{-1}` with :math:`R^\top R` = ``gram`` (``[b, m, m]``); blocks whose factorization breaks
        down (rank-deficient columns) are shifted by ``5000 eps * trace``, then 100 times more, at most
        :data:`MAX_CHOLESKY_RETRIES` times. A Gram matrix that is not finite (NaN or overflowing inputs,
        e.g. a diverged network) or that no shift repairs raises :class:`~pyg_spectral.exceptions.DivergenceError`
        instead of looping."""
        if not bool(torch.isfinite(gram).all()):
            raise DivergenceError("The batched Rayleigh–Ritz got NaN or infinite Gram matrices: the start block "
                                  "is not finite (a diverged or corrupted model, or inputs that overflow "
                                  f"{gram.dtype}).")
        gram = 0.5 * (gram + gram.transpose(1, 2))
        eye = torch.eye(gram.size(-1), dtype=gram.dtype, device=gram.device)
        factor, info = torch.linalg.cholesky_ex(gram, upper=True)
        shift = 5e3 * torch.finfo(gram.dtype).eps
        for _ in range(MAX_CHOLESKY_RETRIES):
            bad = info > 0
            if not bool(bad.any()):
                return torch.linalg.solve_triangular(factor, eye.expand_as(factor), upper=True)
            trace = gram[bad].diagonal(dim1=1, dim2=2).sum(-1).clamp_min(torch.finfo(gram.dtype).tiny)
            factor[bad], info[bad] = torch.linalg.cholesky_ex(gram[bad] + shift * trace[:, None, None] * eye,
                                                              upper=True)
            shift *= 100.0
        if bool((info > 0).any()):
            raise DivergenceError(f"The batched Rayleigh–Ritz could not factor {int((info > 0).sum())} Gram "
                                  f"matrices after {MAX_CHOLESKY_RETRIES} diagonal shifts.")
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
        return self.op.from_padded(self._chebyshev_padded(self.op.to_padded(x.to(self.op.dtype)), cutoff, degree, low,
                                                       max_growth)[0])

    def _chebyshev_padded(self, xp: Tensor, cutoff: Tensor, degree: int, low: Optional[Tensor],
                          max_growth: Optional[float], spare: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """The filter of :meth:`chebyshev_filter` on a padded block, overwriting ``xp``; ``spare``: a block of
        ``xp``'s shape to work in (default: fresh). Returns ``(result, free)``: the two blocks, the first
        holding the filtered block (either of the two, by the degree's parity), the second free."""
        max_growth = MAX_GROWTH[self.op.dtype] if max_growth is None else float(max_growth)
        cutoff = cutoff.to(self.op.dtype).clamp(1e-4, 1.999)
        if low is not None:
            # Largest y with T_d(y) <= max_growth, then the cutoff that maps 1 - low to y.
            y_max = math.cosh(math.acosh(max_growth) / degree)
            top = 1.0 - low.to(self.op.dtype).clamp(0.0, 2.0)
            # y(top) = (2 top - a + 1) / (a + 1) <= y_max  <=>  a >= (2 top + 1 - y_max) / (1 + y_max)
            a_min = (2.0 * top + 1.0 - y_max) / (1.0 + y_max)
            cutoff = torch.minimum(cutoff, 1.0 - a_min)
        a = 1.0 - cutoff
        center, half = (a - 1.0) / 2.0, (a + 1.0) / 2.0
        step = self.op.shifted(center, 2.0 / half)  # 2 S, S = (A - center) / half
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
        shape = (self.op.padded_size, x.size(1))
        up, a, b = (ws.get(f"BlockDiagonalLaplacian.block{i}", shape, self.op.dtype, x.device) for i in range(3))
        self.op.deflate_padded(self.op.to_padded(x, out=up))
        if initial_ritz or rounds < 1:
            theta, up = self._rayleigh_ritz_padded(up, (a, b))
            top, low = self._ritz_bounds(theta)
        else:
            top, low = self._rayleigh_quotient_bounds(up, a)
        for _ in range(int(rounds)):
            up, a = self._chebyshev_padded(up, top, degree, low, max_growth, a)
            # The filter keeps each block in its graph's non-trivial subspace only up to rounding.
            theta, up = self._rayleigh_ritz_padded(self.op.deflate_padded(up), (a, b))
            top, low = self._ritz_bounds(theta)
        if fix_signs:
            for block in self.op.views(up):  # [b, n_max, m]; padding rows are zero and never the largest
                top_entry = torch.gather(block, 1, block.abs().argmax(dim=1, keepdim=True))
                block.mul_(torch.where(top_entry < 0, -1.0, 1.0).to(block.dtype))
        return theta, self.op.from_padded(up)

    @staticmethod
    def _ritz_bounds(theta: Tensor) -> Tuple[Tensor, Tensor]:
        """Filter cutoff (largest finite Ritz value) and growth reference (smallest) per graph."""
        return theta.masked_fill(~torch.isfinite(theta), -math.inf).amax(1), theta[:, 0]

    def _rayleigh_quotient_bounds(self, xp: Tensor, spare: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Largest and smallest Rayleigh quotient of each graph's columns of a padded block (``spare``: a
        block of its shape to work in)."""
        lx = torch.empty_like(xp) if spare is None else spare
        torch.addmm(lx, self.op.padded_laplacian, xp, beta=0.0, out=lx)
        top = torch.zeros(self.op.num_graphs, dtype=self.op.dtype, device=xp.device)
        low = torch.zeros_like(top)
        for (graphs, *_), x, y in zip(self.op.layout, self.op.views(xp), self.op.views(lx)):
            # diagonals of the small products x^T y and x^T x: no [n, m] temporaries
            xty = torch.bmm(x.transpose(1, 2), y).diagonal(dim1=1, dim2=2)
            xtx = torch.bmm(x.transpose(1, 2), x).diagonal(dim1=1, dim2=2)
            quotient = xty / xtx.clamp_min(torch.finfo(self.op.dtype).tiny)
            top[graphs], low[graphs] = quotient.amax(1), quotient.amin(1)
        return top, low
