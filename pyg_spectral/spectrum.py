r"""From learned functions to eigenpairs: Rayleigh–Ritz, residuals, sign rule."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ["rayleigh_ritz", "ritz_from_moments", "ritz_residuals", "normalize_columns", "fix_signs", "column_factors"]


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
    f64, tf64 = f.detach().double(), tf.detach().double()
    w = (torch.full((f.size(0),), 1.0 / f.size(0), dtype=torch.float64, device=f.device)
         if weight is None else weight.detach().double())
    fw = f64 * w.unsqueeze(-1)
    return ritz_from_moments(fw.T @ f64, fw.T @ tf64, rcond)


def ritz_from_moments(M: Tensor, Q: Tensor, rcond: float = 1e-7) -> Tuple[Tensor, Tensor]:
    r"""Rayleigh–Ritz from the moments :math:`M = f^\top R f` and :math:`Q = f^\top R\, Tf`
    (``[m, m]``, e.g. accumulated over node chunks); see :func:`rayleigh_ritz`."""
    M, Q = M.double(), Q.double()
    M, Q = 0.5 * (M + M.T), 0.5 * (Q + Q.T)
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


def _signs(u: Tensor) -> Tensor:
    idx = u.abs().argmax(dim=0)
    sign = torch.sign(u.gather(0, idx.unsqueeze(0))).squeeze(0)
    return torch.where(sign == 0, torch.ones_like(sign), sign)


def fix_signs(u: Tensor) -> Tensor:
    """Deterministic sign rule: the entry of largest magnitude in each column is positive."""
    return u * _signs(u)


def column_factors(u: Tensor) -> Tensor:
    """Per-column factors ``s`` such that ``u * s`` has unit-norm columns obeying :func:`fix_signs`."""
    return _signs(u) / u.norm(dim=0).clamp_min(torch.finfo(u.dtype).tiny)
