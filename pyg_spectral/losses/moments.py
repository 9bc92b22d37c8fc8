r"""Moment estimates with the gradients the nested losses need.

For a batch of outputs ``f`` (``[B, m]``) with weights ``w`` such that
:math:`\sum_b w_b\, g(x_b)` estimates :math:`E_\rho[g]`:

* :func:`gram` estimates :math:`M = E_\rho[f f^\top]`;
* :func:`cross` estimates :math:`Q = E_\rho[f (Tf)^\top]`.

Two switches shape the gradients without changing the values:

* ``routed=True`` (sequential nesting): entry :math:`(l, m)` passes gradient
  only to :math:`f_{\max(l, m)}`, by stop-gradients on the other factor. Then
  :math:`f_i` feels only the terms that contain no later function.
* ``tf_detached=True`` in :func:`cross`: :math:`Tf` was computed without
  gradient (e.g. from neighbour outputs under ``no_grad``). For a
  self-adjoint :math:`T` the gradient of :math:`Q_{lm}` with respect to
  :math:`f_l` is :math:`(T f_m)` and with respect to :math:`f_m` is
  :math:`(T f_l)`; the surrogate :math:`f^\top W\, Tf + (Tf)^\top W f -
  \mathrm{sg}(f^\top W\, Tf)` has the value of :math:`Q^\top` and exactly those
  gradients.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["batch_weight", "gram", "cross"]


def batch_weight(f: Tensor, weight: Optional[Tensor]) -> Tensor:
    """Return ``weight`` as a ``[B, 1]`` column (default ``1/B``), checked."""
    if weight is None:
        return torch.full((f.size(0), 1), 1.0 / f.size(0), dtype=f.dtype, device=f.device)
    if weight.dim() != 1 or weight.numel() != f.size(0):
        raise ValueError(f"weight must have shape [{f.size(0)}], got {list(weight.shape)}.")
    return weight.to(f.dtype).unsqueeze(-1)


def _route(grad_to_row: Tensor, diagonal: Tensor) -> Tensor:
    """Assemble a matrix whose (l, m) entry sends gradient to max(l, m).

    ``grad_to_row[l, m]`` must send its gradient to index ``l`` only.
    """
    low = torch.tril(grad_to_row, -1)
    return low + low.transpose(0, 1) + torch.diag_embed(torch.diagonal(diagonal))


def gram(f: Tensor, weight: Optional[Tensor] = None, routed: bool = False) -> Tensor:
    r"""Estimate :math:`M = E_\rho[f f^\top]` (``[m, m]``)."""
    fw = f * batch_weight(f, weight)
    full = fw.transpose(0, 1) @ f
    if not routed:
        return full
    return _route(fw.transpose(0, 1) @ f.detach(), full)


def cross(
    f: Tensor,
    tf: Tensor,
    weight: Optional[Tensor] = None,
    routed: bool = False,
    tf_detached: bool = True,
) -> Tensor:
    r"""Estimate :math:`Q = E_\rho[f (Tf)^\top]` (``[m, m]``), symmetrised.

    :math:`Q` is symmetric for a self-adjoint :math:`T`; a batch estimate
    :math:`\hat Q` is not, so the symmetric part :math:`(\hat Q + \hat
    Q^\top)/2` (equally unbiased) is returned, and its gradient is the
    self-adjoint one in every mode.
    """
    w = batch_weight(f, weight)
    fw = f * w
    if tf_detached:
        tf = tf.detach()
        a = fw.transpose(0, 1) @ tf  # (l, m) = f_l . Tf_m, gradient to f_l only
        sym = 0.5 * (a + a.transpose(0, 1)).detach()
        if not routed:
            # value sym(a); gradient of sum C*Q is 2 w Tf C_sym
            return a + a.transpose(0, 1) - sym
        # entry (l > m): value sym(a)_lm, gradient Tf_m to f_l; diagonal: gradient 2 Tf_l
        return _route(a - a.detach() + sym, 2.0 * a - a.detach())
    a = fw.transpose(0, 1) @ tf  # gradients through T
    if not routed:
        return 0.5 * (a + a.transpose(0, 1))
    to_row = fw.transpose(0, 1) @ tf.detach()  # (l, m) = f_l . sg(Tf_m) -> f_l
    to_col = (f.detach() * w).transpose(0, 1) @ tf  # (l, m) = sg(f_l) . T f_m -> f_m
    return _route(0.5 * (to_row + to_col.transpose(0, 1)), a)
