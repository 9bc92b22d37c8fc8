r"""SVD mode: NestedLoRA in SVD form with two free tables (left and right singular functions).

For a directed or bipartite graph with :math:`K = D_{out}^{-1/2} A D_{in}^{-1/2}`
(:class:`~pyg_spectral.operators.DirectedNormalizedAdjacency`), learn
:math:`f_1..f_m` on the sources and :math:`g_1..g_m` on the targets by

.. math::
    \mathcal L(f, g) = -2 \sum_l v_l\, f_l^\top K g_l + \sum_{l,m} W_{lm}\,
    (f_l^\top f_m)(g_l^\top g_m),

the masked form of :math:`\sum_i \alpha_i \|K - \sum_{l\le i} f_l g_l^\top\|_F^2`
(Ryu et al., ICML 2024, SVD form). Its minimisers are :math:`f_l =
\sqrt{\sigma_l} u_l`, :math:`g_l = \sqrt{\sigma_l} v_l` for the top singular
triplets, ordered by the nesting. As in EVD mode the tables start at the
minimiser inside their random initial spans, train by heavy-ball SGD, and
finish with a Rayleigh–Ritz step for singular triplets (SVD of
:math:`Q_f^\top K Q_g`, :math:`Q` orthonormal bases of the spans), with
residuals :math:`\max(\|Kv - \sigma u\|, \|K^\top u - \sigma v\|)`.
"""
from __future__ import annotations

import math
from typing import Any, Dict

import torch
from torch import Tensor, nn

from .losses.moments import gram
from .losses.nesting import nesting_masks
from .operators.directed import DirectedNormalizedAdjacency
from .spectrum import _signs
from .training import build_optimizer, train_loop

__all__ = ["fit_svd", "ritz_svd", "nested_lora_svd_loss"]


def nested_lora_svd_loss(f: Tensor, g: Tensor, kg: Tensor, v: Tensor, W: Tensor, sequential: bool) -> Tensor:
    """The masked LoRA SVD loss (autograd through ``kg = K g``)."""
    ones_f = torch.ones(f.size(0), dtype=f.dtype, device=f.device)
    ones_g = torch.ones(g.size(0), dtype=g.dtype, device=g.device)
    mf = gram(f, ones_f, routed=sequential)
    mg = gram(g, ones_g, routed=sequential)
    value_w = torch.ones_like(W) if sequential else W
    return -2.0 * (v * (f * kg).sum(0)).sum() + (value_w * mf * mg).sum()


@torch.no_grad()
def ritz_svd(op: DirectedNormalizedAdjacency, f: Tensor, g: Tensor, rcond: float = 1e-7):
    """Singular triplets of ``K`` restricted to the spans of ``f`` and ``g``: ``(sigma, U, V)`` (float64)."""
    qf, rf = torch.linalg.qr(f.double())
    qg, rg = torch.linalg.qr(g.double())
    keep_f = rf.diagonal().abs() > rcond * rf.diagonal().abs().max()
    keep_g = rg.diagonal().abs() > rcond * rg.diagonal().abs().max()
    qf, qg = qf[:, keep_f], qg[:, keep_g]
    kqg = op.matvec(qg.to(op.matrix.dtype)).double()
    ub, s, vbt = torch.linalg.svd(qf.T @ kqg, full_matrices=False)
    return s, qf @ ub, qg @ vbt.T


@torch.no_grad()
def svd_residuals(op: DirectedNormalizedAdjacency, s: Tensor, u: Tensor, v: Tensor) -> Tensor:
    dt = op.matrix.dtype
    r1 = (op.matvec(v.to(dt)).double() - u * s).norm(dim=0)
    r2 = (op.rmatvec(u.to(dt)).double() - v * s).norm(dim=0)
    return torch.maximum(r1, r2)


def fit_svd(est, data) -> None:
    """Fit ``est`` (a :class:`~pyg_spectral.NeuralSpectralEmbedding` with ``mode="svd"``) on ``data``."""
    import time

    start = time.perf_counter()
    k = est.num_components
    device = torch.device(est.device) if est.device is not None else data.edge_index.device
    bipartite = hasattr(data, "num_rows") and hasattr(data, "num_cols")
    op = DirectedNormalizedAdjacency(data.edge_index, getattr(data, "edge_weight", None),
                                     getattr(data, "num_rows", data.num_nodes), getattr(data, "num_cols", data.num_nodes),
                                     dtype=est.dtype, bipartite=bipartite).to(device)
    if k >= min(op.num_rows, op.num_cols):
        raise ValueError(f"num_components={k} must be smaller than the number of rows ({op.num_rows}) and "
                         f"columns ({op.num_cols}).")
    p = max(8, k // 2) if est.n_oversamples == "auto" else int(est.n_oversamples)
    m = min(k + p, op.num_rows, op.num_cols)
    est.n_components_learned_ = m
    v, W = nesting_masks(m, est.nesting)
    v, W = v.to(device, est.dtype), W.to(device, est.dtype)
    gen = torch.Generator().manual_seed(int(est.seed))
    f0 = torch.randn(op.num_rows, m, generator=gen, dtype=torch.float64)
    g0 = torch.randn(op.num_cols, m, generator=gen, dtype=torch.float64)
    s, u, vv = ritz_svd(op, f0.to(device), g0.to(device))  # start at the minimiser in the random spans
    r = s.numel()
    root = s.clamp_min(0.01 * float(s.max().clamp_min(1e-12))).sqrt()
    f0[:, :r], g0[:, :r] = (u * root).cpu(), (vv * root).cpu()
    F = nn.Parameter(f0.to(device=device, dtype=est.dtype))
    G = nn.Parameter(g0.to(device=device, dtype=est.dtype))
    scale = (1.0 / v).detach()
    F.register_hook(lambda grad: grad * scale)  # same preconditioner as the EVD table (joint nesting)
    G.register_hook(lambda grad: grad * scale)
    lr = 0.2 if est.lr is None else est.lr
    opt, sched = build_optimizer([F, G], "sgd" if est.optimizer == "auto" else est.optimizer, lr,
                                 "constant" if est.lr_schedule == "auto" else est.lr_schedule, est.max_steps,
                                 est.momentum)
    sequential = est.nesting == "sequential"

    def step() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss = nested_lora_svd_loss(F, G, op.matvec(G), v, W, sequential)
        loss.backward()
        opt.step()
        sched.step()
        return loss.detach()

    def evaluate() -> Dict[str, Any]:
        s, u, vv = ritz_svd(op, F.detach(), G.detach())
        if s.numel() < k:
            return {"residual": math.inf, "singular_values": s.tolist()}
        res = svd_residuals(op, s[:k], u[:, :k], vv[:, :k])
        return {"residual": float(res.max()), "singular_values": s[:k].tolist()}

    history, steps, converged = train_loop(step, evaluate, max_steps=est.max_steps, eval_every=est.eval_every,
                                           tol=est.tol, progress=est.progress, desc=f"svd k={k}",
                                           lr_fn=lambda: opt.param_groups[0]["lr"])
    s, u, vv = ritz_svd(op, F.detach(), G.detach())
    if s.numel() < k:
        raise RuntimeError(f"Only {s.numel()} of the {k} requested singular triplets were learned.")
    s, u, vv = s[:k], u[:, :k], vv[:, :k]
    sign = _signs(u)
    u, vv = u * sign, vv * sign
    est.operator_ = op
    est.singular_values_ = s.cpu()
    est.left_singular_vectors_ = u.to(est.dtype)
    est.right_singular_vectors_ = vv.to(est.dtype)
    est.embedding_ = est.left_singular_vectors_
    est.residuals_ = svd_residuals(op, s, u, vv).cpu()
    est.history_, est.n_iter_, est.converged_ = history, steps, converged
    est.fit_time_ = time.perf_counter() - start
