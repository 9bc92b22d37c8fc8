r"""NestedLoRA (NeuralSVD), EVD form (Ryu et al., ICML 2024, arXiv 2402.03655)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .base import SpectralLoss, split_batch
from .moments import gram

__all__ = ["NestedLoRALoss"]


class _NestedLoRAFunction(torch.autograd.Function):
    """Value of the masked LoRA loss with a hand-built gradient; ``tf`` is a constant.

    Gradients (``w`` the batch weights, halves 1 and 2 when split):
    ``d/df = -4 w v*tf`` plus ``2 w1 f1 (W o M2)`` on half 1 and
    ``2 w2 f2 (W o M1)`` on half 2 (``4 w f (W o M)`` when not split).
    The factor 4 on ``tf`` is 2 (the square) times 2 (self-adjointness of T).
    """

    @staticmethod
    def forward(ctx, f, tf, w, v, w_value, w_grad, split):
        quad = (w * f * tf).sum(0)
        if split:
            (f1, _, w1), (f2, _, w2) = split_batch(f, tf, w, 2)
            m1 = (w1 * f1).transpose(0, 1) @ f1
            m2 = (w2 * f2).transpose(0, 1) @ f2
        else:
            m1 = m2 = (w * f).transpose(0, 1) @ f
        ctx.save_for_backward(f, tf, w, v, w_grad, m1, m2)
        ctx.split = split
        return -2.0 * (v * quad).sum() + (w_value * m1 * m2).sum()

    @staticmethod
    def backward(ctx, grad_out):
        f, tf, w, v, w_grad, m1, m2 = ctx.saved_tensors
        grad = -4.0 * w * v * tf
        if ctx.split:
            h = f.size(0) - f.size(0) // 2  # tensor_split puts the extra row first
            size = f.size(0)
            w1, w2 = w[:h] * (size / h), w[h:] * (size / (size - h))
            grad[:h] += 2.0 * (w1 * f[:h]) @ (w_grad * m2)
            grad[h:] += 2.0 * (w2 * f[h:]) @ (w_grad * m1)
        else:
            grad += 4.0 * (w * f) @ (w_grad * m1)
        return grad_out * grad, None, None, None, None, None, None


class NestedLoRALoss(SpectralLoss):
    r"""Nested low-rank approximation loss (NeuralSVD), EVD form.

    For a self-adjoint operator :math:`T` in :math:`L^2(\rho)` and functions
    :math:`f_1..f_m`, with :math:`Q_{ll} = E_\rho[f_l\, Tf_l]` and
    :math:`M = E_\rho[f f^\top]`,

    .. math::
        \mathcal L(f) = -2 \sum_l v_l\, Q_{ll} + \sum_{l,m} W_{lm} M_{lm}^2 ,

    the masked form of :math:`\sum_i \alpha_i \|T - \sum_{l \le i} f_l
    \otimes f_l\|_{HS}^2` up to a constant (:mod:`~pyg_spectral.losses.nesting`).
    Its minimisers are :math:`f_l = \sqrt{\lambda_l}\,\phi_l` for the top
    :math:`m` *positive* eigenpairs (:math:`\phi_l` orthonormal in
    :math:`L^2(\rho)`): the squared norms are the eigenvalues, nothing is
    inverted or orthogonalised, and nesting orders the functions. Modes with
    :math:`\lambda \le 0` collapse to zero.

    Mini-batches: :math:`M^2` is a squared expectation; ``split=True``
    multiplies Gram estimates from the two halves of the batch, which is
    unbiased when the halves are independent.

    Two gradient paths (``gradient=``): ``"custom"`` (default) takes ``tf``
    as a constant and builds the gradient by hand (only the batch rows need a
    backward pass); ``"autograd"`` differentiates through ``tf = T f``. Both
    agree for self-adjoint :math:`T`.

    For sequential nesting the returned value is the un-nested rank-:math:`m`
    objective; only the gradient is nested.

    Example:
        >>> import torch
        >>> from pyg_spectral.datasets import cycle_graph
        >>> from pyg_spectral.operators import build_operator
        >>> op = build_operator("laplacian", cycle_graph(8).edge_index, num_nodes=8, dtype=torch.float64)
        >>> loss_fn = NestedLoRALoss(3, nesting="joint").double()
        >>> f = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
        >>> with torch.no_grad():
        ...     tf = op.matvec(f)                # the custom gradient needs T f without gradient
        >>> loss = loss_fn(f, tf, weight=op.measure)
        >>> loss.backward()
        >>> f.grad.shape
        torch.Size([8, 3])
    """

    def forward(self, f: Tensor, tf: Tensor, weight: Optional[Tensor] = None, split: bool = False) -> Tensor:
        w = self._check_inputs(f, tf, weight)
        v, W = self._masks(f)
        w_value = torch.ones_like(W) if self.sequential else W
        if self.gradient == "custom":
            return _NestedLoRAFunction.apply(f, tf.detach(), w, v, w_value, W, bool(split))
        quad = (w * f * tf).sum(0)
        if split:
            (f1, _, w1), (f2, _, w2) = split_batch(f, tf, w, 2)
            m1 = gram(f1, w1.squeeze(-1), routed=self.sequential)
            m2 = gram(f2, w2.squeeze(-1), routed=self.sequential)
        else:
            m1 = m2 = gram(f, w.squeeze(-1), routed=self.sequential)
        return -2.0 * (v * quad).sum() + (w_value * m1 * m2).sum()

    @staticmethod
    def eigenvalues_from_norms(f: Tensor, weight: Optional[Tensor] = None) -> Tensor:
        r"""Norm estimator :math:`\hat\lambda_l = E_\rho[f_l^2]` (valid at the LoRA optimum)."""
        return gram(f, weight).diagonal()
