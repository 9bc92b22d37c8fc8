r"""Rayleigh–Ritz on a learned subspace, residuals and the sign rule (dense, in float64)."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ["rayleigh_ritz", "ritz_moments", "streamed_moments", "ritz_from_moments", "ritz_residuals", "ritz_record",
           "ritz_start", "normalize_columns", "fix_signs", "column_signs", "column_factors"]


def rayleigh_ritz(f: Tensor, tf: Tensor, weight: Optional[Tensor] = None, rcond: float = 1e-7) -> Tuple[Tensor, Tensor]:
    r"""Rayleigh–Ritz on the span of the columns of ``f``.

    Solves the generalised problem :math:`Q c = \theta M c` with
    :math:`M = f^\top R f`, :math:`Q = f^\top R\, Tf` (:math:`R` = diag of
    ``weight``), in float64. Directions of :math:`M` below
    ``rcond * max eig(M)`` (collapsed or duplicated functions) are dropped,
    so fewer than ``m`` pairs may come back.

    Returns:
        ``(theta, C)``: Ritz values in descending order (``[r]``) and
        coefficients ``C`` (``[m, r]``) such that the Ritz functions
        :math:`f C` are orthonormal in :math:`L^2(\rho)`.
    """
    return ritz_from_moments(*ritz_moments(f, tf, weight), rcond)


def ritz_moments(f: Tensor, tf: Tensor, weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""The moments :math:`M = f^\top R f` and :math:`Q = f^\top R\, Tf` (float64, no gradient; ``weight=None``:
    uniform :math:`1/n`), which sum over row chunks."""
    f64, tf64 = f.detach().double(), tf.detach().double()
    w = (torch.full((f.size(0),), 1.0 / f.size(0), dtype=torch.float64, device=f.device)
         if weight is None else weight.detach().double())
    fw = f64 * w.unsqueeze(-1)
    return fw.T @ f64, fw.T @ tf64


def streamed_moments(f: Tensor, apply, weight: Tensor, block: int = 64, dtype: Optional[torch.dtype] = None
                     ) -> Tuple[Tensor, Tensor]:
    r"""The moments of :func:`ritz_moments` for a wide ``f`` (``[n, d]``, e.g. an MLP's inputs), with
    :math:`Tf` applied by ``apply`` to ``block`` columns at a time (in ``dtype``, default ``f``'s): memory of
    ``n x block`` float64 values besides ``f``, never a float64 copy of ``f`` or of :math:`Tf`.

    >>> f, t = torch.randn(30, 5, dtype=torch.float64), torch.diag(torch.linspace(1, 0, 30)).double()
    >>> w = torch.full((30,), 1 / 30, dtype=torch.float64)
    >>> M, Q = streamed_moments(f, lambda y: t @ y, w, block=2)
    >>> M0, Q0 = ritz_moments(f, t @ f, w)
    >>> bool(torch.allclose(M, M0) and torch.allclose(Q, Q0))
    True
    """
    d, w = f.size(1), weight.detach().double().unsqueeze(-1)
    gram = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    cross = torch.zeros(d, d, dtype=torch.float64, device=f.device)
    for start in range(0, d, int(block)):
        cols = f[:, start:start + int(block)].detach()
        wf = cols.double() * w
        tf = apply(cols.to(dtype or f.dtype)).double()
        for other in range(0, d, int(block)):  # f^T R [f, Tf] one column block of f at a time
            left = f[:, other:other + int(block)].detach().double()
            gram[other:other + left.size(1), start:start + cols.size(1)] = left.T @ wf
            cross[other:other + left.size(1), start:start + cols.size(1)] = (left * w).T @ tf
    return gram, cross


def ritz_from_moments(M: Tensor, Q: Tensor, rcond: float = 1e-7, equilibrate: bool = False) -> Tuple[Tensor, Tensor]:
    r"""Rayleigh–Ritz from the moments :math:`M = f^\top R f` and :math:`Q = f^\top R\, Tf`
    (``[m, m]``, e.g. accumulated over node chunks); see :func:`rayleigh_ritz`.

    ``equilibrate`` first scales every function to unit norm (:math:`D^{-1/2} M D^{-1/2}`, :math:`D = \mathrm{diag}
    M`; zero functions dropped), so that ``rcond`` judges the span's directions whatever the functions' norms: the
    Ritz pairs are the same in exact arithmetic, but without it a few functions of large norm (a trained network's
    outputs grow) make ``rcond`` drop directions that the small-norm ones span well.

    >>> M, Q = torch.diag(torch.tensor([1e8, 1.0])), torch.diag(torch.tensor([1e8, 0.5]))   # f_2 is 1e4 x smaller
    >>> ritz_from_moments(M, Q)[0], ritz_from_moments(M, Q, equilibrate=True)[0]
    (tensor([1.], dtype=torch.float64), tensor([1.0000, 0.5000], dtype=torch.float64))
    """
    M, Q = M.double(), Q.double()
    M, Q = 0.5 * (M + M.T), 0.5 * (Q + Q.T)
    if equilibrate:
        diag = M.diagonal()
        scale = torch.where(diag > 0, diag.clamp_min(torch.finfo(torch.float64).tiny).rsqrt(), torch.zeros_like(diag))
        theta, C = ritz_from_moments(scale[:, None] * M * scale, scale[:, None] * Q * scale, rcond)
        return theta, scale[:, None] * C
    s, V = torch.linalg.eigh(M)
    keep = s > rcond * s.max().clamp_min(torch.finfo(torch.float64).tiny)
    B = V[:, keep] / s[keep].sqrt()
    theta, Y = torch.linalg.eigh(B.T @ Q @ B)
    order = torch.argsort(theta, descending=True)
    return theta[order], B @ Y[:, order]


def ritz_residuals(f: Tensor, tf: Tensor, theta: Tensor, coef: Tensor) -> Tensor:
    r"""Euclidean residuals :math:`\|T u - \theta u\|_2` of the unit-norm Ritz vectors
    :math:`u \propto f c`. Needs no ground truth: :math:`Tu` is ``tf @ c``."""
    u = f.detach().double() @ coef
    tu = tf.detach().double() @ coef
    norms = u.norm(dim=0).clamp_min(torch.finfo(torch.float64).tiny)
    return (tu - u * theta).norm(dim=0) / norms


def normalize_columns(u: Tensor) -> Tensor:
    """Scale each column to unit Euclidean norm."""
    return u / u.norm(dim=0, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)


def column_signs(u: Tensor) -> Tensor:
    """``[m]`` signs (+-1) that make the entry of largest magnitude of each column positive (0 counts as +)."""
    idx = u.abs().argmax(dim=0)
    sign = torch.sign(u.gather(0, idx.unsqueeze(0))).squeeze(0)
    return torch.where(sign == 0, torch.ones_like(sign), sign)


def fix_signs(u: Tensor) -> Tensor:
    """Deterministic sign rule: the entry of largest magnitude in each column is positive."""
    return u * column_signs(u)


def column_factors(u: Tensor) -> Tensor:
    """Per-column factors ``s`` such that ``u * s`` has unit-norm columns obeying :func:`fix_signs`."""
    return column_signs(u) / u.norm(dim=0).clamp_min(torch.finfo(u.dtype).tiny)


def ritz_start(u: Tensor, theta: Tensor, floor: float = 0.01) -> Tensor:
    r"""Ritz functions ``u`` (``[n, r]``) scaled by :math:`\sqrt{\theta_l}`: the minimiser of the
    nested losses inside their span, where training starts.

    Inside a subspace, NestedLoRA and NestedOMM (and the LoRA SVD loss, with singular values) are minimised
    by the Ritz vectors scaled by :math:`\sqrt{\theta_l}`. Starting there skips the transient in which tiny
    random columns grow exponentially and, with heavy-ball momentum, overshoot into the region where the
    quartic Gram term is stiff (it diverges on small graphs where :math:`m` is close to :math:`n`). Values
    below ``floor`` times the largest are floored, so no column starts at the zero saddle.

    >>> ritz_start(torch.eye(3, 2, dtype=torch.float64), torch.tensor([4.0, 0.0], dtype=torch.float64))
    tensor([[2.0000, 0.0000],
            [0.0000, 0.2000],
            [0.0000, 0.0000]], dtype=torch.float64)
    """
    return u * theta.clamp_min(floor * float(theta.max().clamp_min(1e-12))).sqrt()


def ritz_record(f: Tensor, tf: Tensor, k: int, op, weight: Optional[Tensor] = None,
                sampled: bool = False) -> dict:
    r"""The evaluation record of a learned span: the top-``k`` Ritz values in the user's units
    (``op.to_original``), the max residual and the rank of the span.

    ``sampled=False``: ``f``, ``tf`` are the whole graph's and residuals are Euclidean
    :math:`\|Tu - \theta u\|_2` of unit vectors. ``sampled=True``: they are a node sample drawn with
    importance ``weight`` and the residual is estimated as :math:`\sqrt{\hat E_\rho[(Tu - \theta u)^2] /
    \hat E_\rho[u^2]}` (no ground truth needed). Residuals are divided by ``|op.scale|``: the units of the
    operator the user asked for. Fewer than ``k`` Ritz pairs (a collapsed span) gives an infinite residual.
    """
    theta, coef = rayleigh_ritz(f, tf, weight)
    if theta.numel() < k:
        return {"residual": math.inf, "eigenvalues": op.to_original(theta).tolist(), "rank": theta.numel()}
    theta, coef = theta[:k], coef[:, :k]
    if sampled:
        u, tu = f @ coef, tf @ coef
        w = weight.double().unsqueeze(-1)
        res = ((w * (tu - u * theta) ** 2).sum(0) / (w * u * u).sum(0).clamp_min(1e-300)).sqrt() / abs(op.scale)
    else:
        res = ritz_residuals(f, tf, theta, coef) / abs(op.scale)
    return {"residual": float(res.max()), "eigenvalues": op.to_original(theta).tolist(), "rank": int(theta.numel())}
