r"""Rayleigh–Ritz for singular triplets of :math:`K` restricted to two learned spans."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

__all__ = ["ritz_svd", "svd_residuals"]


@torch.no_grad()
def ritz_svd(op, f: Tensor, g: Tensor, rcond: float = 1e-7) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Singular triplets of ``K`` (``op``, with ``matvec``) restricted to the spans of ``f`` and ``g``:
    the SVD of :math:`Q_f^\top K Q_g` with :math:`Q` orthonormal bases of the spans (directions below
    ``rcond`` of the largest dropped). Returns ``(sigma, U, V)`` in float64, ``sigma`` descending."""
    qf, rf = torch.linalg.qr(f.double())
    qg, rg = torch.linalg.qr(g.double())
    keep_f = rf.diagonal().abs() > rcond * rf.diagonal().abs().max()
    keep_g = rg.diagonal().abs() > rcond * rg.diagonal().abs().max()
    qf, qg = qf[:, keep_f], qg[:, keep_g]
    kqg = op.matvec(qg.to(op.matrix.dtype)).double()
    ub, s, vbt = torch.linalg.svd(qf.T @ kqg, full_matrices=False)
    return s, qf @ ub, qg @ vbt.T


@torch.no_grad()
def svd_residuals(op, s: Tensor, u: Tensor, v: Tensor) -> Tensor:
    r""":math:`\max(\|Kv - \sigma u\|, \|K^\top u - \sigma v\|)` per triplet (unit-norm ``u``, ``v``)."""
    dt = op.matrix.dtype
    r1 = (op.matvec(v.to(dt)).double() - u * s).norm(dim=0)
    r2 = (op.rmatvec(u.to(dt)).double() - v * s).norm(dim=0)
    return torch.maximum(r1, r2)
