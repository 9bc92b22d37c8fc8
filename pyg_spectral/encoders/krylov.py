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
(depth grown until the Ritz residuals reach ``tol``).

Cost: ``q`` sparse products with ``w`` columns, and memory :math:`O(n\, w (q+1))` float64 for
:math:`\Phi` (e.g. PubMed, ``n = 19717``, ``w = 48``, ``q = 48``: 0.4 GB).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..spectrum.ritz import ritz_from_moments, ritz_record
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

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, random_channels={self.random_channels}, "
                f"feature_channels={self.feature_channels}, depth={self.depth}")


def fit_krylov_head(encoder: KrylovEncoder, x: Optional[Tensor], edge_index: Tensor, op, k: int, *,
                    tol: float, n_id: Optional[Tensor] = None, edge_weight: Optional[Tensor] = None,
                    depth_step: int = 8, max_depth: int = 96, rcond: float = 1e-10
                    ) -> Tuple[Tensor, Tensor, List[Dict[str, Any]], bool]:
    r"""Solve the head of ``encoder`` by Rayleigh–Ritz, growing its depth until the residuals reach ``tol``.

    ``op`` is a base operator :math:`T = c_0 I + c_1 L_{sym}` (the Laplacian and the normalized and lazy
    adjacencies; uniform measure), whose top eigenpairs are wanted. At depth :math:`q` the moments
    :math:`M = \Phi^\top \Phi` and :math:`\Phi^\top \hat A \Phi` come from one Gram matrix of the blocks
    :math:`0 .. q+1`, because the Chebyshev recurrence gives :math:`\hat A \Phi_0 = \Phi_1` and
    :math:`\hat A \Phi_j = (\Phi_{j+1} + \Phi_{j-1})/2`; the Gram is extended block by block as the depth
    grows, so no product with :math:`\hat A` on all of :math:`\Phi` and no recomputation is needed.
    :func:`~pyg_spectral.spectrum.ritz.ritz_from_moments` (directions of :math:`M` below ``rcond`` times
    its largest eigenvalue dropped: the Krylov basis is ill-conditioned by construction) gives the Ritz
    pairs; the residuals :math:`\|Tu - \theta u\|` of the top ``k`` (in the user's units, no ground truth)
    are measured with one product on the ``m`` Ritz vectors. The depth starts at ``encoder.depth`` and
    grows by ``depth_step`` until the max residual is ``<= tol`` or the depth reaches ``max_depth``.

    Returns:
        ``(head, u, history, converged)``: ``head`` ``[w (q+1), m]`` (float64) maps :math:`\Phi` to the top
        ``m = encoder.out_channels`` Ritz vectors ``u = Phi @ head`` (``[n, m]``, :math:`L^2(\rho)`
        orthonormal); ``history`` holds one :func:`~pyg_spectral.spectrum.ritz.ritz_record` per depth
        (with ``step`` = depth, ``time``, ``dimension``); ``encoder.depth`` is left at the final depth.
    """
    if getattr(op, "normalization", None) != "sym" or not hasattr(op, "c0"):
        raise ValueError("encoder='krylov' spans polynomials of D^-1/2 A D^-1/2: it needs the 'laplacian', "
                         f"'adjacency' or 'lazy_adjacency' operator, not {getattr(op, 'name', op)!r}.")
    if int(depth_step) < 1 or int(max_depth) < encoder.depth:
        raise ValueError(f"need depth_step >= 1 and max_depth >= depth, got {depth_step} and {max_depth}.")
    start = time.perf_counter()
    n = encoder._num_nodes(x, edge_index, n_id, None)
    apply = encoder.propagation(edge_index, n, edge_weight, encoder.dtype)
    blocks = encoder.blocks(x, edge_index, n_id, n, edge_weight)
    eye, adj = op.c0 + op.c1, -op.c1  # T = eye * I + adj * A_hat
    w, m = encoder.block_width, min(encoder.out_channels, n)
    feats = torch.empty(n, 0, dtype=encoder.dtype, device=edge_index.device)
    gram = torch.empty(0, 0, dtype=torch.float64, device=feats.device)
    history: List[Dict[str, Any]] = []
    while True:
        q = encoder.depth
        new = torch.cat([next(blocks) for _ in range(q + 2 - feats.size(1) // w)], dim=-1)
        cross = feats.T @ new
        gram = torch.cat([torch.cat([gram, cross], 1), torch.cat([cross.T, new.T @ new], 1)], 0).double()
        feats = torch.cat([feats, new], dim=-1)
        d = w * (q + 1)
        g = gram[:d].reshape(d, q + 2, w)
        a_phi = torch.cat([g[:, 1:2], 0.5 * (g[:, :q] + g[:, 2:q + 2])], dim=1).reshape(d, d)
        theta, coef = ritz_from_moments(gram[:d, :d], eye * gram[:d, :d] + adj * a_phi, rcond)
        head = coef[:, :m]
        u = feats[:, :d].double() @ head
        record = ritz_record(u, eye * u + adj * apply(u), k, op)
        record.update(step=q, time=time.perf_counter() - start, dimension=d)
        history.append(record)
        if record["residual"] <= tol or q + depth_step > max_depth:
            return head, u, history, record["residual"] <= tol
        encoder.grow_(depth_step)
