"""Free embedding table (transductive)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..spectrum.ritz import rayleigh_ritz, ritz_start

__all__ = ["EmbeddingEncoder"]


class _ScaleGrad(torch.autograd.Function):
    """Identity whose backward multiplies the gradient column-wise by ``scale``."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        return grad * scale, None


class EmbeddingEncoder(nn.Module):
    r"""One free row of parameters per node: plain matrix factorisation, the
    transductive correctness baseline.

    The table stores :math:`\theta_i = \sqrt{\rho_i}\, f_i`, where :math:`\rho`
    is the operator's node measure, and returns :math:`f_i = \theta_i /
    \sqrt{\rho_i}`. Two reasons:

    * at the optimum of NestedLoRA, the columns of :math:`\theta` are
      :math:`\sqrt{\lambda_l}` times unit-norm eigenvectors, whatever the size
      of the graph;
    * a gradient step on :math:`\theta` moves :math:`f_i` by
      :math:`\mathrm{lr} \cdot \partial\mathcal L / \partial f_i / \rho_i`,
      the gradient in the :math:`L^2(\rho)` metric, so one learning rate
      (~0.2 with momentum 0.9) is stable on every graph size and degree law.

    :attr:`column_grad_scale` (default ones) rescales each column's gradient:
    a positive diagonal preconditioner, so steps stay descent directions of
    the same loss. The estimator sets it to :math:`1/v_l` for joint nesting,
    whose masks :math:`v_l \approx (m - l + 1)/m` would otherwise make the
    last columns (the subspace edge) learn :math:`m` times slower.

    Args:
        num_nodes: number of nodes :math:`n`.
        out_channels: number of functions :math:`m`.
        measure: node measure :math:`\rho` (default uniform :math:`1/n`).
        init_scale: standard deviation of the initial :math:`f`.
        seed: seed of the initialisation.

    Example:
        >>> enc = EmbeddingEncoder(100, 8)
        >>> enc().shape
        torch.Size([100, 8])
    """

    inputs = "nodes"

    def __init__(
        self,
        num_nodes: int,
        out_channels: int,
        measure: Optional[Tensor] = None,
        init_scale: float = 0.1,
        seed: Optional[int] = None,
    ):
        super().__init__()
        self.num_nodes, self.out_channels = int(num_nodes), int(out_channels)
        if measure is None:
            measure = torch.full((self.num_nodes,), 1.0 / self.num_nodes)
        if measure.shape != (self.num_nodes,) or bool((measure <= 0).any()):
            raise ValueError("measure must be a positive [num_nodes] tensor.")
        self.register_buffer("inv_sqrt_measure", measure.detach().float().rsqrt().unsqueeze(-1))
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        init = torch.randn(self.num_nodes, self.out_channels, generator=gen) * float(init_scale)
        self.weight = nn.Parameter(init / self.inv_sqrt_measure.cpu())
        self.register_buffer("column_grad_scale", torch.ones(self.out_channels))

    def forward(self, x: Optional[Tensor] = None, edge_index: Optional[Tensor] = None,
                n_id: Optional[Tensor] = None) -> Tensor:
        """Return ``f`` for all nodes, or for the nodes ``n_id``."""
        weight = self.weight
        if self.training and weight.requires_grad:
            weight = _ScaleGrad.apply(weight, self.column_grad_scale.to(weight.dtype))
        if n_id is None:
            return weight * self.inv_sqrt_measure.to(weight.dtype)
        return weight[n_id] * self.inv_sqrt_measure[n_id].to(weight.dtype)

    @torch.no_grad()
    def set_functions_(self, f: Tensor) -> "EmbeddingEncoder":
        """Overwrite the table so that :meth:`forward` returns ``f`` (``[n, m]``)."""
        if f.shape != self.weight.shape:
            raise ValueError(f"f must have shape {list(self.weight.shape)}, got {list(f.shape)}.")
        self.weight.copy_(f.to(self.weight.dtype) / self.inv_sqrt_measure.to(self.weight.dtype))
        return self

    @torch.no_grad()
    def ritz_initialize_(self, op) -> "EmbeddingEncoder":
        """Move the table to the minimiser of the nested losses inside its current span (one product with
        ``op`` and an ``m x m`` eigenproblem; see :func:`~pyg_spectral.spectrum.ritz.ritz_start`)."""
        f = self()
        theta, coef = rayleigh_ritz(f, op.matvec(f), op.measure)
        if theta.numel() == 0:
            return self
        start = f.detach().double().clone()
        start[:, :theta.numel()] = ritz_start(f.detach().double() @ coef, theta)
        return self.set_functions_(start)

    def extra_repr(self) -> str:
        return f"num_nodes={self.num_nodes}, out_channels={self.out_channels}"
