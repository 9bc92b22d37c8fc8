r"""NestedOMM: nested orbital minimization (Ryu, Zhou, Wornell, NeurIPS 2025, arXiv 2510.21952)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor

from .base import SpectralLoss, split_batch
from .moments import cross, gram
from .nesting import prefix_weights

__all__ = ["NestedOMMLoss"]


def _omm1(M: Sequence[Tensor], Q: Sequence[Tensor], quad: Tensor, v: Tensor, W: Tensor) -> Tensor:
    """Masked order-1 OMM: -2 sum v_l Q_ll + mean over part pairs of sum W M_a Q_b."""
    c = len(M)
    pairs = [(a, (a + 1) % c) for a in range(c)] if c > 1 else [(0, 0)]
    inter = sum((W * M[a] * Q[b]).sum() for a, b in pairs) / len(pairs)
    return -2.0 * (v * torch.diagonal(quad)).sum() + inter


def _tr(a: Tensor, b: Tensor) -> Tensor:
    """Batched trace of a @ b over the last two dimensions."""
    return (a * b.transpose(-1, -2)).sum((-1, -2))


def _omm2(M: Sequence[Tensor], Q: Sequence[Tensor], quad: Tensor) -> Tensor:
    r"""Order-2 OMM, :math:`-4\,\mathrm{tr}\,Q + 6\,\mathrm{tr}(MQ) - 4\,\mathrm{tr}(M^2Q) + \mathrm{tr}(M^3Q)`.

    Inputs may carry a leading batch dimension (one prefix per entry); the
    result then has that shape. Each product of expectations takes its
    factors from distinct parts (cyclic assignment), so with 4 independent
    parts every term is unbiased.
    """
    c = len(M)
    idx = (lambda a, j: (a + j) % c) if c > 1 else (lambda a, j: 0)
    t1 = t2 = t3 = 0.0
    for a in range(c):
        m0, m1, m2, q = M[idx(a, 0)], M[idx(a, 1)], M[idx(a, 2)], Q[idx(a, 3)] if c > 1 else Q[0]
        t1 = t1 + _tr(m0, Q[idx(a, 1)])
        t2 = t2 + _tr(m0 @ m1, Q[idx(a, 2)])
        t3 = t3 + _tr(m0 @ m1 @ m2, q)
    diag = torch.diagonal(quad, dim1=-2, dim2=-1).sum(-1)
    return -4.0 * diag + (6.0 * t1 - 4.0 * t2 + t3) / c


class NestedOMMLoss(SpectralLoss):
    r"""Nested orbital minimization loss (for PSD operators).

    With :math:`M = E_\rho[f f^\top]` and :math:`Q = E_\rho[f (Tf)^\top]`, the
    order-:math:`p` OMM objective is :math:`\mathrm{tr}((I - VV^\top)^{2p} T) -
    \mathrm{tr}\,T` for :math:`V` the functions in :math:`L^2(\rho)`; since
    :math:`\mathrm{tr}((VV^\top)^k T) = \mathrm{tr}(M^{k-1} Q)`,

    .. math::
        \mathcal L^{(1)} &= -2\,\mathrm{tr}\,Q + \mathrm{tr}(MQ), \\
        \mathcal L^{(2)} &= -4\,\mathrm{tr}\,Q + 6\,\mathrm{tr}(MQ)
                           - 4\,\mathrm{tr}(M^2Q) + \mathrm{tr}(M^3Q).

    For a PSD :math:`T` every order has the same global minimisers: an
    *orthonormal* basis (:math:`M = I`) of the top-:math:`m` eigenspace, with
    eigenvalues read off by Rayleigh quotients. With a negative eigenvalue the
    loss is unbounded below (:math:`f = c\,u`, :math:`c \to \infty`), so
    :meth:`check_operator` refuses non-PSD operators.

    ``order="1+2"`` sums both. Nesting orders the functions: joint nesting
    sums :math:`\alpha_i \mathcal L(f_{1..i})` (order 1 in masked form,
    :math:`-2\sum_l v_l Q_{ll} + \sum_{lm} W_{lm} M_{lm} Q_{lm}`); sequential
    nesting gives :math:`f_i` the gradient of :math:`\mathcal L(f_{1..i})`
    with earlier functions held fixed (moments routed, see
    :mod:`~pyg_spectral.losses.moments`). The returned value of a sequential
    loss is the un-nested objective.

    Mini-batches (``split=True``): products of expectations take each factor
    from an independent part of the batch (2 parts for order 1, 4 for order 2).

    Example:
        >>> import torch
        >>> from pyg_spectral.datasets import cycle_graph
        >>> from pyg_spectral.operators import build_operator
        >>> op = build_operator("laplacian", cycle_graph(8).edge_index, num_nodes=8, dtype=torch.float64)
        >>> loss_fn = NestedOMMLoss(3, order=1).double()
        >>> loss_fn.check_operator(op)           # raises on non-PSD operators
        >>> f = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.isfinite(loss_fn(f, op.matvec(f), weight=op.measure)))
        True
    """

    psd_required = True

    def __init__(
        self,
        num_components: int,
        order: Union[int, str] = 1,
        nesting: Optional[str] = "joint",
        step: int = 1,
        weights: Optional[Sequence[float]] = None,
        gradient: str = "custom",
    ):
        super().__init__(num_components, nesting, step, weights, gradient)
        if str(order) not in ("1", "2", "1+2"):
            raise ValueError(f"order must be 1, 2 or '1+2', got {order!r}.")
        self.order = str(order)
        # Order 2 has ~4x the curvature of order 1 (coefficients 4, 6, 4, 1).
        self.curvature = 1.0 if self.order == "1" else 4.0
        self.independent_parts = 2 if self.order == "1" else 4
        self.register_buffer("prefix_alpha", prefix_weights(self.num_components, step, weights), persistent=False)

    def _moments(self, f: Tensor, tf: Tensor, w: Tensor, split: bool):
        routed = self.sequential
        detached = self.gradient == "custom"
        quad = cross(f, tf, w.squeeze(-1), routed=routed, tf_detached=detached)
        parts = split_batch(f, tf, w, self.independent_parts) if split else [(f, tf, w)]
        M = [gram(p[0], p[2].squeeze(-1), routed=routed) for p in parts]
        Q = [cross(p[0], p[1], p[2].squeeze(-1), routed=routed, tf_detached=detached) for p in parts]
        return quad, M, Q

    def _order2(self, quad: Tensor, M: List[Tensor], Q: List[Tensor]) -> Tensor:
        if self.nesting is None:
            return _omm2(M, Q, quad)
        m = self.num_components
        ar = torch.arange(m, device=quad.device)
        if self.nesting == "joint":
            ends = torch.nonzero(self.prefix_alpha).flatten()
            inside = (ar[None, :] <= ends[:, None]).to(quad.dtype)  # [P, m]
            mask = inside[:, :, None] * inside[:, None, :]  # [P, m, m]: the prefix block
            per_prefix = _omm2([x * mask for x in M], [x * mask for x in Q], quad * mask)
            return (self.prefix_alpha[ends].to(quad.dtype) * per_prefix).sum()
        # Sequential: prefix i keeps only row/column i live; routed entries there
        # send their gradient to max(l, m) = i. The value is corrected to the
        # un-nested objective.
        inside = (ar[None, :] <= ar[:, None]).to(quad.dtype)  # [m, m]: prefix i holds 0..i
        block = inside[:, :, None] * inside[:, None, :]
        eye = torch.eye(m, dtype=quad.dtype, device=quad.device)
        live = torch.clamp(eye[:, :, None] + eye[:, None, :], max=1.0) * block  # row or column i
        dead = block - live

        def cut(x: Tensor) -> Tensor:
            return x * live + x.detach() * dead

        total = _omm2([cut(x) for x in M], [cut(x) for x in Q], cut(quad)).sum()
        full = _omm2([x.detach() for x in M], [x.detach() for x in Q], quad.detach())
        return total - total.detach() + full

    def forward(self, f: Tensor, tf: Tensor, weight: Optional[Tensor] = None, split: bool = False) -> Tensor:
        w = self._check_inputs(f, tf, weight)
        quad, M, Q = self._moments(f, tf, w, split)
        loss = 0.0
        if self.order in ("1", "1+2"):
            v, W = self._masks(f)
            if self.sequential:  # routed moments already give the sequential gradient
                v, W = torch.ones_like(v), torch.ones_like(W)
            loss = loss + _omm1(M, Q, quad, v, W)
        if self.order in ("2", "1+2"):
            loss = loss + self._order2(quad, M, Q)
        return loss

    def extra_repr(self) -> str:
        return f"order={self.order!r}, " + super().extra_repr()
