r"""Accuracy metrics for learned eigenpairs (public).

All functions accept torch tensors or numpy arrays and compute in float64.
``U_hat`` are learned vectors and ``U`` reference vectors, both ``[n, k]``.
"""
from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy as np
import torch

__all__ = [
    "eigenvalue_error",
    "principal_angles",
    "subspace_distance",
    "mode_cosines",
    "residual_norms",
    "orthogonality_error",
    "gap_cutoff",
]

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[float]]


def _np(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _orth(x: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(x)
    return q


def eigenvalue_error(pred: ArrayLike, true: ArrayLike) -> np.ndarray:
    r"""Absolute errors :math:`|\hat\lambda_l - \lambda_l|` per mode."""
    pred, true = _np(pred), _np(true)
    if pred.shape != true.shape:
        raise ValueError(f"eigenvalue arrays differ in shape: {pred.shape} vs {true.shape}.")
    return np.abs(pred - true)


def principal_angles(U_hat: ArrayLike, U: ArrayLike) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans."""
    a, b = _orth(_np(U_hat)), _orth(_np(U))
    s = np.linalg.svd(a.T @ b, compute_uv=False)
    return np.sort(np.arccos(np.clip(s, -1.0, 1.0)))


def subspace_distance(U_hat: ArrayLike, U: ArrayLike) -> float:
    r"""Subspace distance :math:`1 - \frac1k \sum_i \cos^2\theta_i` in :math:`[0, 1]`.

    Equals :math:`1 - \mathrm{tr}(\Pi_{\hat U}\Pi_U)/k`; 0 for equal spans.
    For spans of different dimensions, :math:`k` is the larger one.
    """
    a, b = _orth(_np(U_hat)), _orth(_np(U))
    k = max(a.shape[1], b.shape[1])
    s = np.linalg.svd(a.T @ b, compute_uv=False)
    return float(max(0.0, 1.0 - np.sum(s**2) / k))


def mode_cosines(U_hat: ArrayLike, U: ArrayLike, eigenvalues: ArrayLike, tol: float = 1e-6) -> np.ndarray:
    r"""Per-mode :math:`|\cos|` between learned and reference vectors, after
    aligning each block of (near-)degenerate reference eigenvalues (gaps
    ``<= tol``) by orthogonal Procrustes, since single eigenvectors inside
    such a block are not unique.
    """
    Uh, Ur, lam = _np(U_hat), _np(U), _np(eigenvalues)
    Uh = Uh / np.linalg.norm(Uh, axis=0, keepdims=True)
    Ur = Ur / np.linalg.norm(Ur, axis=0, keepdims=True)
    out = np.empty(Ur.shape[1])
    start = 0
    for end in range(1, len(lam) + 1):
        if end == len(lam) or abs(lam[end] - lam[end - 1]) > tol:
            a, b = Uh[:, start:end], Ur[:, start:end]
            u, _, vt = np.linalg.svd(a.T @ b)
            aligned = a @ (u @ vt)  # rotation of the learned block closest to the reference
            out[start:end] = np.abs(np.sum(aligned * b, axis=0))
            start = end
    return out


def residual_norms(matvec: Callable, U: ArrayLike, eigenvalues: ArrayLike) -> np.ndarray:
    r""":math:`\|T u_l - \lambda_l u_l\|_2` for unit-normalised columns; needs no ground truth.

    ``matvec`` applies the operator (e.g. ``operator.matvec`` or a scipy matrix's ``@``).
    """
    is_torch = isinstance(U, torch.Tensor)
    Un = _np(U)
    Un = Un / np.linalg.norm(Un, axis=0, keepdims=True)
    if is_torch:
        TU = matvec(torch.from_numpy(Un).to(U.device, torch.float64))
        TU = TU.detach().cpu().numpy()
    else:
        TU = np.asarray(matvec(Un))
    return np.linalg.norm(TU - Un * _np(eigenvalues)[None, :], axis=0)


def orthogonality_error(U: ArrayLike) -> float:
    r""":math:`\|\hat U^\top \hat U - I\|_F` after normalising the columns."""
    Un = _np(U)
    Un = Un / np.linalg.norm(Un, axis=0, keepdims=True)
    return float(np.linalg.norm(Un.T @ Un - np.eye(Un.shape[1])))


def gap_cutoff(eigenvalues: ArrayLike, k: int, min_gap: float = 1e-6) -> int:
    r"""Largest :math:`k' \le k` such that :math:`|\lambda_{k'} - \lambda_{k'+1}| > ` ``min_gap``.

    ``eigenvalues`` must hold at least ``k + 1`` sorted values. Comparing the
    first :math:`k'` vectors compares well-defined eigenspaces even when
    :math:`\lambda_k` is degenerate. Returns 0 if no such gap exists.
    """
    lam = _np(eigenvalues)
    if len(lam) < k + 1:
        raise ValueError(f"gap_cutoff needs k + 1 = {k + 1} eigenvalues, got {len(lam)}.")
    for kk in range(k, 0, -1):
        if abs(lam[kk - 1] - lam[kk]) > min_gap:
            return kk
    return 0
