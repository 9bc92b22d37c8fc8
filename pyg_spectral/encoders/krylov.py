r"""Chebyshev–Krylov features of per-node noise: a closed-form, inductive encoder.

The encoder is a fixed polynomial filter bank of the graph applied to position-independent inputs,

.. math::
    B = \bigl[\,Z,\ \tilde X\,\bigr], \qquad
    \Phi = \bigl[\,T_0(\hat A) B,\ T_1(\hat A) B,\ \dots,\ T_q(\hat A) B\,\bigr] \in \mathbb R^{n \times w(q+1)},

with :math:`\hat A = D^{-1/2} A D^{-1/2}`, :math:`T_j` the Chebyshev polynomials (:math:`\Phi_0 = B`,
:math:`\Phi_1 = \hat A B`, :math:`\Phi_j = 2 \hat A \Phi_{j-1} - \Phi_{j-2}`; bounded by 1 on the spectrum
:math:`[-1, 1]`, so no block grows), :math:`Z` the :func:`~pyg_spectral.encoders.noise.hashed_normal`
noise of the global node ids (``r`` channels) and :math:`\tilde X` the node features projected by a hashed
Gaussian matrix to ``feature_channels`` columns scaled to unit RMS (the scale is read off the first graph the
encoder sees and then kept, so later graphs give a node the same inputs).

Why: the span of :math:`\Phi` is a block Krylov space of :math:`\hat A` (the same for
:math:`L_{sym} = I - \hat A` and :math:`(I + \hat A)/2`). Rayleigh–Ritz on it resolves the extreme
eigenvectors at a rate set by :math:`\sqrt{\text{gap}}` per degree, the optimal rate of polynomial methods,
where gradient training of a message-passing network resolves them at a rate set by the gap per step; top
gaps of real graphs are ~1e-3. The head :math:`W` (``[w(q+1), k]``) is solved, not trained, and the same
:math:`W` applied to :math:`\Phi` of another graph (with the same node ids on the shared nodes) extends the
eigenvectors to new nodes. :class:`~pyg_spectral.NeuralSpectralEmbedding` with ``encoder="krylov"`` fits it
with :func:`fit_krylov_head` (depth grown until the residuals reach ``tol``): block Lanczos with full
reorthogonalisation for the Ritz vectors, then the least-norm head that reproduces them, whose small norm is
what makes it extend well to new nodes.

Cost: ``q`` sparse products with ``w`` columns, Gram–Schmidt against the basis (:math:`O(n\, w^2 q^2)` in
all), one eigen-solve of the top ``m`` pairs of a ``[w(q+1)]``-square matrix per depth tried, and memory
:math:`O(n\, w (q+1))` float64 for the orthonormal basis (PubMed, ``n = 19717``, ``k = 32``: ``w = 48``,
``q = 56``, 0.4 GB); :math:`\Phi` itself is never held.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..spectrum.ritz import ritz_record
from ..utils.sparse import laplacian_csr
from ..utils.validation import check_graph
from .noise import hashed_normal

__all__ = ["KrylovEncoder", "fit_krylov_head"]

#: offset of the seed of the feature projection (independent of the node noise)
_PROJECTION_SEED = 0x5EED


class KrylovEncoder(nn.Module):
    r"""Chebyshev–Krylov features :math:`\Phi = [T_j(\hat A) B]_{j \le q}` of hashed node noise and
    projected node features (see the module docstring). No trainable parameters.

    Args:
        in_channels: node feature dimension (0 if the graph has no features).
        out_channels: number of functions :math:`m` the head will read off (sets the noise width
            :math:`r = \max(m, 16)` unless ``random_channels`` is given).
        depth: Chebyshev degree :math:`q`.
        feature_channels: width of the feature projection (used when ``in_channels > 0``).
        random_channels: noise width :math:`r`.
        seed: seed of the noise and of the projection.
        dtype: dtype of :math:`\Phi` (float64 by default: the basis is ill-conditioned, and
            Rayleigh–Ritz needs its small directions).

    Example:
        >>> from pyg_spectral.datasets import cycle_graph
        >>> data = cycle_graph(10)
        >>> enc = KrylovEncoder(0, 4, depth=3)
        >>> enc(None, data.edge_index).shape               # r = 16 channels, 4 blocks
        torch.Size([10, 64])
        >>> phi = enc(None, data.edge_index)               # T_1(A) B = A B: the mean over the two neighbours
        >>> torch.allclose(phi[1, 16:32], (phi[0, :16] + phi[2, :16]) / 2)
        True
    """

    inputs = "graph"
    takes_node_ids = True

    def __init__(self, in_channels: int, out_channels: int, depth: int = 16, feature_channels: int = 16,
                 random_channels: Optional[int] = None, seed: int = 0, dtype: torch.dtype = torch.float64):
        super().__init__()
        if int(in_channels) < 0 or int(out_channels) < 1:
            raise ValueError(f"KrylovEncoder needs in_channels >= 0 and out_channels >= 1, got "
                             f"{in_channels} and {out_channels}.")
        if int(depth) < 0:
            raise ValueError(f"depth must be >= 0, got {depth}.")
        self.in_channels, self.out_channels, self.depth = int(in_channels), int(out_channels), int(depth)
        self.random_channels = int(random_channels) if random_channels is not None else max(self.out_channels, 16)
        self.feature_channels = int(feature_channels) if self.in_channels else 0
        if self.random_channels + self.feature_channels < 1:
            raise ValueError("KrylovEncoder needs random_channels > 0 or node features.")
        self.seed, self.dtype = int(seed), dtype
        self.register_buffer("feature_scale", torch.empty(0, dtype=dtype))  # set by the first graph

    @property
    def block_width(self) -> int:
        """Columns per Chebyshev block, :math:`w = r` (+ ``feature_channels`` with features)."""
        return self.random_channels + self.feature_channels

    @property
    def num_features_out(self) -> int:
        """Columns of :math:`\\Phi`: :math:`w (q + 1)`."""
        return self.block_width * (self.depth + 1)

    def grow_(self, steps: int) -> "KrylovEncoder":
        """Raise the depth by ``steps`` Chebyshev degrees."""
        self.depth += int(steps)
        return self

    def _num_nodes(self, x, edge_index, n_id, num_nodes) -> int:
        if x is not None:
            return x.size(0)
        if n_id is not None:
            return n_id.numel()
        if num_nodes is not None:
            return int(num_nodes)
        return int(edge_index.max()) + 1 if edge_index.numel() else 0

    def input_block(self, x: Optional[Tensor], n_id: Tensor) -> Tensor:
        """:math:`B = [Z, \\tilde X]` of the nodes ``n_id`` (``x``: their features or ``None``)."""
        parts = [hashed_normal(n_id, self.random_channels, self.seed, self.dtype)] if self.random_channels else []
        if self.feature_channels:
            if x is None or x.size(-1) != self.in_channels:
                raise ValueError(f"KrylovEncoder expects {self.in_channels} node features per node, got "
                                 f"{None if x is None else x.size(-1)}.")
            feature_ids = torch.arange(self.in_channels, device=x.device)
            proj = hashed_normal(feature_ids, self.feature_channels, self.seed + _PROJECTION_SEED, self.dtype)
            xp = x.to(self.dtype) @ proj
            if self.feature_scale.numel() == 0:
                rms = xp.norm(dim=0) / max(xp.size(0), 1) ** 0.5
                self.feature_scale = torch.where(rms > 0, 1.0 / rms, torch.ones_like(rms))
            parts.append(xp * self.feature_scale.to(xp.device))
        return torch.cat([p.to(n_id.device) for p in parts], dim=-1)

    @staticmethod
    def propagation(edge_index: Tensor, num_nodes: int, edge_weight: Optional[Tensor] = None,
                    dtype: torch.dtype = torch.float64) -> Callable[[Tensor], Tensor]:
        r""":math:`y \mapsto \hat A y` (self-loops dropped, parallel edges summed; isolated nodes map to 0)."""
        edge_index, edge_weight, num_nodes = check_graph(edge_index, edge_weight, num_nodes, allow_no_edges=True)
        edge_index = edge_index.long()
        if edge_weight is None:
            edge_weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        lap, _ = laplacian_csr(edge_index, edge_weight, num_nodes, "sym", dtype=dtype)
        return lambda y: y - torch.sparse.mm(lap, y)

    def blocks(self, x: Optional[Tensor], edge_index: Tensor, n_id: Optional[Tensor] = None,
               num_nodes: Optional[int] = None, edge_weight: Optional[Tensor] = None) -> Iterator[Tensor]:
        """The blocks :math:`T_0(\\hat A) B, T_1(\\hat A) B, \\dots` without end (the fit grows the depth)."""
        n = self._num_nodes(x, edge_index, n_id, num_nodes)
        ids = n_id if n_id is not None else torch.arange(n, device=edge_index.device)
        apply = self.propagation(edge_index, n, edge_weight, self.dtype)
        prev, cur = None, self.input_block(x, ids)
        while True:
            yield cur
            prev, cur = cur, (apply(cur) if prev is None else 2.0 * apply(cur) - prev)

    def forward(self, x: Optional[Tensor], edge_index: Tensor, n_id: Optional[Tensor] = None,
                num_nodes: Optional[int] = None, edge_weight: Optional[Tensor] = None) -> Tensor:
        r""":math:`\Phi` (``[n, w (q + 1)]``) of the graph; its nodes have the global ids ``n_id``
        (default ``0 .. n-1``). ``n`` is read from ``x``, ``n_id``, ``num_nodes`` or, last,
        ``max(edge_index) + 1``."""
        out = []
        for block in self.blocks(x, edge_index, n_id, num_nodes, edge_weight):
            out.append(block)
            if len(out) == self.depth + 1:
                break
        return torch.cat(out, dim=-1)

    def apply_head(self, head: Tensor, x: Optional[Tensor], edge_index: Tensor, n_id: Optional[Tensor] = None,
                   num_nodes: Optional[int] = None, edge_weight: Optional[Tensor] = None) -> Tensor:
        """:math:`\\Phi` ``@ head`` block by block, without holding :math:`\\Phi` (memory :math:`O(n w)`)."""
        w = self.block_width
        if head.size(0) != self.num_features_out:
            raise ValueError(f"head has {head.size(0)} rows, the encoder {self.num_features_out} features.")
        out = None
        for j, block in enumerate(self.blocks(x, edge_index, n_id, num_nodes, edge_weight)):
            part = block @ head[j * w:(j + 1) * w].to(block)
            out = part if out is None else out + part
            if j == self.depth:
                return out

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, random_channels={self.random_channels}, "
                f"feature_channels={self.feature_channels}, depth={self.depth}")


class _BlockLanczos:
    r"""Block Lanczos on :math:`\hat A` from the block :math:`B`, with full reorthogonalisation.

    Block :math:`j` of :math:`Q` spans the degree-:math:`j` part of the block Krylov space (the span of the
    first :math:`j + 1` Chebyshev blocks of :class:`KrylovEncoder`); Gram–Schmidt against the last two
    blocks (the Lanczos step), then against all blocks while that still removes a visible part, keeps
    :math:`Q` orthonormal to rounding. Its coefficients are :math:`H = Q^\top \hat A Q` (block tridiagonal
    in exact arithmetic), so Rayleigh–Ritz needs one eigen-solve of :math:`H` and no Gram matrix of the
    ill-conditioned Chebyshev blocks. Directions of a new block whose norm after orthogonalisation is below
    ``drop`` (:math:`\|\hat A\| \le 1`) are deflated; an empty block means the space is invariant.
    """

    def __init__(self, apply: Callable[[Tensor], Tensor], b: Tensor, width: int, drop: float):
        self.apply, self.w, self.drop = apply, width, drop
        s, v = torch.linalg.eigh(b.T @ b)
        keep = s > drop * drop * s.max().clamp_min(torch.finfo(b.dtype).tiny)
        r = v[:, keep] / s[keep].sqrt()
        self.offsets = [0]                                                 # block j: columns offsets[j]:offsets[j+1]
        self.q = torch.empty(b.size(0), 0, dtype=b.dtype, device=b.device)
        self.h = torch.empty(0, 0, dtype=b.dtype, device=b.device)
        self._reserve(r.size(1))
        self.q[:, :r.size(1)] = b @ r
        self.offsets.append(r.size(1))
        self.exhausted = r.size(1) == 0

    @property
    def depth(self) -> int:
        """Index of the last block whose column of :math:`H` is known (its product was taken)."""
        return len(self.offsets) - 3

    def _reserve(self, cols: int) -> None:
        """Grow the buffers (by half again, so that copies are rare) to hold ``cols`` columns."""
        if cols > self.q.size(1):
            cap, used = max(cols, int(1.5 * self.q.size(1))), self.offsets[-1]
            q = torch.empty(self.q.size(0), cap, dtype=self.q.dtype, device=self.q.device)
            h = torch.zeros(cap, cap, dtype=self.q.dtype, device=self.q.device)
            q[:, :used], h[:used, :used] = self.q[:, :used], self.h[:used, :used]
            self.q, self.h = q, h

    def step(self) -> None:
        r"""Orthogonalise :math:`\hat A Q_j` of the last block :math:`j` into block :math:`j + 1`."""
        j = len(self.offsets) - 2
        a, b = self.offsets[j], self.offsets[j + 1]
        new = self.apply(self.q[:, a:b])
        basis = self.q[:, :b]
        proj = torch.zeros(b, b - a, dtype=new.dtype, device=new.device)
        # the Lanczos step: in exact arithmetic A Q_j lies in the span of Q_{j-1}, Q_j, Q_{j+1} ...
        lo = self.offsets[max(j - 1, 0)]
        x = basis[:, lo:].T @ new
        new = new - basis[:, lo:] @ x
        proj[lo:] += x
        # ... in floating point it drifts back into the earlier blocks: full reorthogonalisation, repeated
        # while it still removes a visible part of the block (Daniel-Gragg-Kaufman-Stewart)
        for _ in range(3):
            before = new.norm(dim=0)
            x = basis.T @ new
            if float(x.abs().max()) <= 1e-10 * float(before.max()):  # orthogonal to rounding: skip the update
                break
            new = new - basis @ x
            proj += x
            if bool((new.norm(dim=0) >= 0.7 * before).all()):
                break
        self.h[:b, a:b] = proj                                             # Q_{<=j}^T A Q_j
        s, v = torch.linalg.eigh(new.T @ new)
        keep = s > self.drop * self.drop
        if not bool(keep.any()):
            self.exhausted = True
            self.offsets.append(b)
            return
        e = b + int(keep.sum())
        self._reserve(e)
        self.q[:, b:e] = new @ (v[:, keep] / s[keep].sqrt())
        self.offsets.append(e)

    def extend(self, depth: int) -> None:
        """Take products until the column of :math:`H` of block ``depth`` is known (or the space is invariant)."""
        self._reserve(self.offsets[-1] + self.w * (depth - self.depth + 1))
        while self.depth < depth and not self.exhausted:
            self.step()

    def ritz(self, eye: float, adj: float, m: int, depth: int) -> Tuple[Tensor, Tensor, int]:
        r"""Top ``m`` Ritz pairs of :math:`T = \text{eye}\, I + \text{adj}\, \hat A` on blocks ``0 .. depth``:
        ``(theta, u, d)``, ``u`` orthonormal (``[n, m]``), ``d`` the dimension of the space."""
        last = min(depth, self.depth)
        d = self.offsets[last + 1]
        # column block j of h holds Q_{<=j}^T A Q_j (the block upper part); mirror it, diagonal blocks averaged
        sizes = torch.tensor([self.offsets[i + 1] - self.offsets[i] for i in range(last + 1)], device=self.h.device)
        block = torch.repeat_interleave(torch.arange(last + 1, device=self.h.device), sizes)
        upper = torch.where(block.unsqueeze(1) <= block.unsqueeze(0), self.h[:d, :d], 0.0)
        h = upper + upper.T
        h = torch.where(block.unsqueeze(1) == block.unsqueeze(0), 0.5 * h, h)
        t = eye * torch.eye(d, dtype=h.dtype, device=h.device) + adj * h
        m = min(m, d)
        if t.device.type == "cpu" and d > 2 * m:                          # only the top m: ~3x faster
            import scipy.linalg
            from threadpoolctl import threadpool_limits

            # one BLAS thread: scipy's OpenBLAS workers spin between calls and, beside torch's own threads on a
            # busy machine, made this call 16x slower at 2 threads (Cora, k = 16: 13 s vs 0.8 s)
            with threadpool_limits(limits=1, user_api="blas"):
                vals, vecs = scipy.linalg.eigh(t.numpy(), subset_by_index=[d - m, d - 1], driver="evr")
            theta, y = torch.from_numpy(vals).to(t), torch.from_numpy(vecs).to(t)
        else:
            theta, y = torch.linalg.eigh(t)
        order = torch.argsort(theta, descending=True)[:m]
        return theta[order], self.q[:, :d] @ y[:, order], d


def _next_depth(history: List[Dict[str, Any]], tol: float, depth_step: int, key: str = "residual") -> int:
    """Depth increment: ``depth_step``, or the multiple of it that the last two residuals (``key``),
    extrapolated geometrically, say reaches ``tol`` (at most doubling the depth)."""
    points = [(h["step"], h[key]) for h in history if key in h]
    if len(points) < 2 or not math.isfinite(points[-1][1]):
        return depth_step
    (q0, r0), (q1, r1) = points[-2:]
    if not (0 < r1 < r0) or r1 <= tol:
        return depth_step
    need = (q1 - q0) * math.log(r1 / tol) / math.log(r0 / r1)
    steps = math.ceil(need / depth_step)
    return depth_step * max(1, min(steps, max(1, q1 // depth_step)))


def _chebyshev_gram(encoder: KrylovEncoder, u: Tensor, x: Optional[Tensor], edge_index: Tensor,
                    n_id: Optional[Tensor], num_nodes: int, edge_weight: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    r""":math:`G = \Phi^\top \Phi` and :math:`\Phi^\top u` without forming :math:`\Phi`.

    Chebyshev polynomials multiply as :math:`T_i T_j = (T_{i+j} + T_{|i-j|})/2`, so
    :math:`G_{ij} = (\mu_{i+j} + \mu_{|i-j|})/2` with the moments :math:`\mu_l = B^\top T_l(\hat A) B`:
    ``2q`` products with ``w`` columns, memory :math:`O(n w)`.
    """
    q, w = encoder.depth, encoder.block_width
    moments, rhs, b = [], [], None
    for j, block in enumerate(encoder.blocks(x, edge_index, n_id, num_nodes, edge_weight)):
        b = block if b is None else b
        moments.append(b.T @ block)
        if j <= q:
            rhs.append(block.T @ u.to(block))
        if j == 2 * q:
            break
    mu = torch.stack(moments).double()
    mu = 0.5 * (mu + mu.transpose(1, 2))
    i = torch.arange(q + 1, device=mu.device)
    gram = 0.5 * (mu[i.unsqueeze(1) + i.unsqueeze(0)] + mu[(i.unsqueeze(1) - i.unsqueeze(0)).abs()])
    return gram.permute(0, 2, 1, 3).reshape(w * (q + 1), w * (q + 1)), torch.cat(rhs).double()


def _top_eigenvalue(gram: Tensor) -> float:
    """The top eigenvalue of the PSD ``gram`` within a few % (30 power iterations): the scale of the ridge."""
    v = torch.ones(gram.size(0), 1, dtype=gram.dtype, device=gram.device)
    for _ in range(30):
        v = gram @ v
        v = v / v.norm().clamp_min(torch.finfo(torch.float64).tiny)
    return float((v.T @ gram @ v).clamp_min(torch.finfo(torch.float64).tiny))


def _ridge_solve(gram: Tensor, rhs: Tensor, ridge: float, scale: float) -> Tensor:
    r""":math:`(G + \mu I)^{-1} r` with :math:`\mu` = ``ridge * scale`` (``scale``: the top eigenvalue of
    :math:`G`), raised while rounding leaves :math:`G + \mu I` indefinite."""
    eye = torch.eye(gram.size(0), dtype=gram.dtype, device=gram.device)
    for attempt in range(8):
        chol, info = torch.linalg.cholesky_ex(gram + ridge * 10 ** attempt * scale * eye)
        if int(info) == 0:
            return torch.cholesky_solve(rhs, chol)
    raise RuntimeError("the Gram matrix of the Krylov features could not be factored (non-finite features?).")


def fit_krylov_head(encoder: KrylovEncoder, x: Optional[Tensor], edge_index: Tensor, op, k: int, *,
                    tol: float, n_id: Optional[Tensor] = None, edge_weight: Optional[Tensor] = None,
                    depth_step: int = 8, max_depth: int = 96, ridge: float = 1e-10, rcond: float = 1e-16
                    ) -> Tuple[Tensor, Tensor, List[Dict[str, Any]], bool]:
    r"""Solve the head of ``encoder``, growing its depth until the residuals reach ``tol``.

    ``op`` is a base operator :math:`T = c_0 I + c_1 L_{sym}` (the Laplacian and the normalized and lazy
    adjacencies; uniform measure), whose top eigenpairs are wanted. Two steps per depth :math:`q`:

    1. *Rayleigh–Ritz.* The span of :math:`\Phi` is the block Krylov space of :math:`\hat A` from :math:`B`;
       block Lanczos with full reorthogonalisation builds an orthonormal basis of it and
       :math:`H = Q^\top \hat A Q` one block per product, and the top ``m`` eigenpairs of
       :math:`c_0 I + c_1 (I - H)` give the Ritz vectors :math:`u = Q y`.
    2. *The head.* Of the heads with :math:`\Phi h \approx u`, the one of least norm,
       :math:`h = (G + \mu I)^{-1} \Phi^\top u` (:math:`G = \Phi^\top \Phi` from Chebyshev moments, no
       :math:`\Phi` held). :math:`\Phi` is numerically rank-deficient, so many heads reproduce :math:`u` on
       this graph; they differ on any other, and the large ones amplify what changes there (Cora, 80 % of
       the nodes seen, distance to the full graph's eigenvectors: 0.31 with the Lanczos coefficients, 0.22
       with this head). The ridge :math:`\mu` starts at ``ridge`` times the top eigenvalue of :math:`G` and
       is lowered (to 1e-16) while it costs the residuals their tolerance.

    Converged when the residuals :math:`\|Tu - \theta u\|` of the top ``k`` of :math:`\Phi h` (the map that
    ``transform`` applies; user's units, no ground truth) are ``<= tol``. The depth starts at
    ``encoder.depth`` and grows by multiples of ``depth_step`` (the multiple that the last two residuals,
    extrapolated geometrically, say reaches ``tol``; at most doubling) up to ``max_depth``. Directions of a
    new Lanczos block below ``sqrt(rcond)`` after orthogonalisation are deflated.

    Returns:
        ``(head, u, history, converged)``: ``head`` ``[w (q+1), m]`` (float64) maps :math:`\Phi` to the
        ``m = encoder.out_channels`` functions ``u = Phi @ head`` (``[n, m]``, :math:`L^2(\rho)`
        orthonormal Ritz vectors to the ridge's accuracy); ``history`` holds one
        :func:`~pyg_spectral.spectrum.ritz.ritz_record` per depth (with ``step`` = depth, ``time``,
        ``dimension``; ``residual`` of the Lanczos Ritz vectors and, where the head was solved,
        ``head_residual`` and ``ridge``); ``encoder.depth`` is left at the final depth.
    """
    if getattr(op, "normalization", None) != "sym" or not hasattr(op, "c0"):
        raise ValueError("encoder='krylov' spans polynomials of D^-1/2 A D^-1/2: it needs the 'laplacian', "
                         f"'adjacency' or 'lazy_adjacency' operator, not {getattr(op, 'name', op)!r}.")
    if int(depth_step) < 1 or int(max_depth) < encoder.depth:
        raise ValueError(f"need depth_step >= 1 and max_depth >= depth, got {depth_step} and {max_depth}.")
    if not (math.isfinite(ridge) and ridge > 0) or not (0 < rcond < 1):
        raise ValueError(f"need ridge > 0 (finite) and 0 < rcond < 1, got ridge={ridge} and rcond={rcond}.")
    start = time.perf_counter()
    n = encoder._num_nodes(x, edge_index, n_id, None)
    apply = encoder.propagation(edge_index, n, edge_weight, encoder.dtype)
    ids = n_id if n_id is not None else torch.arange(n, device=edge_index.device)
    lanczos = _BlockLanczos(apply, encoder.input_block(x, ids).to(encoder.dtype), encoder.block_width,
                            math.sqrt(rcond))
    eye, adj = op.c0 + op.c1, -op.c1  # T = eye * I + adj * A_hat
    m, norm = min(encoder.out_channels, n), math.sqrt(n)

    def record_of(v: Tensor) -> Dict[str, Any]:
        return ritz_record(v, eye * v + adj * apply(v), k, op)

    history: List[Dict[str, Any]] = []
    while True:
        q = encoder.depth
        lanczos.extend(q)
        encoder.depth = min(q, lanczos.depth)
        _, u, d = lanczos.ritz(eye, adj, m, q)
        u = u.double() * norm
        record = record_of(u)
        record.update(step=encoder.depth, dimension=int(d))
        last = encoder.depth >= max_depth or lanczos.exhausted
        if record["residual"] <= tol or last:
            gram, rhs = _chebyshev_gram(encoder, u, x, edge_index, n_id, n, edge_weight)
            ridges = [ridge / 100 ** i for i in range(8) if ridge / 100 ** i >= 1e-16 * (1 - 1e-9)] or [ridge]
            scale = _top_eigenvalue(gram)
            heads = torch.cat([_ridge_solve(gram, rhs, r, scale) for r in ridges], dim=1)  # one pass over Phi
            u_all = encoder.apply_head(heads, x, edge_index, n_id=n_id, num_nodes=n, edge_weight=edge_weight)
            for i, r in enumerate(ridges):  # the largest ridge that keeps the tolerance (else the smallest)
                cols = slice(i * u.size(1), (i + 1) * u.size(1))
                head, u_head = heads[:, cols], u_all[:, cols]
                res = record_of(u_head)["residual"]
                if res <= tol:
                    break
            record.update(head_residual=res, ridge=r)
        record["time"] = time.perf_counter() - start
        history.append(record)
        converged = record.get("head_residual", math.inf) <= tol
        if converged or last:
            return head, u_head, history, converged
        key = "head_residual" if sum("head_residual" in h for h in history) >= 2 else "residual"
        grow = depth_step if "head_residual" in record and key == "residual" else _next_depth(history, tol,
                                                                                              depth_step, key)
        encoder.depth = min(q + grow, max_depth)
