r"""The finish of a fit: streamed Rayleigh–Ritz on the learned functions, residuals and the sign rule.

Works over row chunks: the moments :math:`M = f^\top R f`, :math:`Q = f^\top R\, Tf`, the residuals and
the signs are accumulated in float64 chunk by chunk, and :math:`Tf` is computed chunk by chunk from rows of
the operator (``matvec_rows``) where it has them, so beyond the ``[n, m]`` outputs and the ``[n, k]``
result only chunk-sized buffers are allocated.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from .ritz import ritz_from_moments

__all__ = ["RitzResult", "finalize_eigenpairs"]


class RitzResult(NamedTuple):
    """Eigenpairs read off learned functions ``f``: ``vectors = f @ coefficients``."""

    eigenvalues: Tensor  #: ``[k]`` float64, in the user's units
    vectors: Tensor  #: ``[n, k]`` unit-norm columns, largest-magnitude entry positive
    residuals: Tensor  #: ``[k]`` float64 :math:`\|Tu - \lambda u\|_2`, in the user's units
    coefficients: Tensor  #: ``[m, k]`` float64 map from the outputs to the vectors (norms and signs folded in)


@torch.no_grad()
def finalize_eigenpairs(f: Tensor, op, k: int, *, rayleigh_ritz: bool = True,
                        output_coefficients: Optional[Callable[[Tensor], Tensor]] = None,
                        dtype: Optional[torch.dtype] = None, chunk: int = 65536,
                        collapsed_hint: str = "Train longer or use fewer components.") -> RitzResult:
    r"""Eigenpairs of the (base) operator ``op`` from the learned functions ``f`` (``[n, m]``).

    ``rayleigh_ritz=True``: the top ``k`` Ritz pairs of the span of ``f``. ``False``: the first ``k``
    functions in the loss's order (mapped by ``output_coefficients(M)`` when the loss has one, as SpIN's
    whitening), with Rayleigh-quotient eigenvalues. Raises ``RuntimeError`` (with ``collapsed_hint``) when
    the span has fewer than ``k`` independent directions.

    >>> import torch
    >>> from pyg_spectral.datasets import cycle_graph
    >>> from pyg_spectral.operators import build_operator
    >>> op = build_operator("laplacian", cycle_graph(8).edge_index, num_nodes=8, dtype=torch.float64)
    >>> f = torch.randn(8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> result = finalize_eigenpairs(f, op.base, 2)          # the span of f is everything: exact pairs
    >>> [round(v, 6) + 0.0 for v in result.eigenvalues.tolist()], bool(result.residuals.max() < 1e-10)
    ([0.0, 0.292893], True)
    """
    n, m = f.shape
    rho = op.measure.double()
    bounds = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    tf = None if hasattr(op, "matvec_rows") else op.matvec(f)  # else (Tf) is streamed by row chunks

    def pieces():
        for start, end in bounds:
            tfc = op.matvec_rows(f, start, end) if tf is None else tf[start:end]
            yield slice(start, end), f[start:end].double(), tfc.double()

    if rayleigh_ritz:
        M = torch.zeros(m, m, dtype=torch.float64, device=f.device)
        Q = torch.zeros_like(M)
        for idx, fc, tfc in pieces():
            fw = fc * rho[idx].unsqueeze(-1)
            M += fw.T @ fc
            Q += fw.T @ tfc
        theta, coef = ritz_from_moments(M, Q)
        if theta.numel() < k:
            raise RuntimeError(f"Only {theta.numel()} of the {k} requested eigenfunctions were learned (the rest "
                               f"collapsed). {collapsed_hint}")
        theta, coef = theta[:k], coef[:, :k]
    else:
        coef = torch.eye(m, k, dtype=torch.float64, device=f.device)
        if output_coefficients is not None:
            M = torch.zeros(m, m, dtype=torch.float64, device=f.device)
            for idx, fc, _ in pieces():
                M += (fc * rho[idx].unsqueeze(-1)).T @ fc
            coef = output_coefficients(M)[:, :k]
        num = torch.zeros(k, dtype=torch.float64, device=f.device)
        den = torch.zeros_like(num)
        for idx, fc, tfc in pieces():
            w = rho[idx].unsqueeze(-1)
            uc, tuc = fc @ coef, tfc @ coef
            num += (w * uc * tuc).sum(0)
            den += (w * uc ** 2).sum(0)
        theta = num / den.clamp_min(1e-300)
    res2 = torch.zeros(k, dtype=torch.float64, device=f.device)
    norm2 = torch.zeros_like(res2)
    peak = torch.zeros_like(res2)
    peak_sign = torch.ones_like(res2)
    for idx, fc, tfc in pieces():
        uc, tuc = fc @ coef, tfc @ coef
        res2 += ((tuc - uc * theta) ** 2).sum(0)
        norm2 += (uc * uc).sum(0)
        val, pos = uc.abs().max(0)
        better = val > peak
        peak = torch.where(better, val, peak)
        peak_sign = torch.where(better, torch.sign(uc.gather(0, pos.unsqueeze(0)).squeeze(0)), peak_sign)
    norms = norm2.sqrt().clamp_min(torch.finfo(torch.float64).tiny)
    residuals = (res2.sqrt() / norms) / abs(op.scale)
    # Norms and signs folded into the coefficients, so that new outputs map the same way (transform).
    peak_sign = torch.where(peak_sign == 0, torch.ones_like(peak_sign), peak_sign)
    coef = coef * (peak_sign / norms)
    u = torch.empty(n, k, dtype=dtype or f.dtype, device=f.device)
    for start, end in bounds:
        u[start:end] = (f[start:end].double() @ coef).to(u.dtype)
    return RitzResult(op.to_original(theta).detach().cpu(), u, residuals.detach().cpu(), coef)
