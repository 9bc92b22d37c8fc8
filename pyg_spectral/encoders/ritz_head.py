r"""A network whose last layer is solved by Rayleigh–Ritz, not trained: the network learns a basis.

For a trunk :math:`h_\theta: \text{node} \mapsto \mathbb R^{d}` (an MLP or a GNN, ``d`` wider than the ``m``
functions), the head is the top-``m`` Ritz coefficients of the operator :math:`T` on the span of the trunk's
outputs :math:`H = h_\theta(\cdot)` (``[n, d]``), scaled as the nested losses' minimiser inside that span:

.. math::
    H^\top R\, T H\, c_l = \theta_l\, H^\top R H\, c_l, \qquad f = H\, [\,c_1 \sqrt{\theta_1}, \dots,
    c_m \sqrt{\theta_m}\,]

(:math:`R` the measure). Re-solved at every full-batch step, so :math:`f` is the best the current span offers
and, by the envelope theorem, the gradient of the loss at :math:`f` with the head held fixed is the gradient
of :math:`\min_C \mathcal L(HC)`: training moves the *span* towards the top eigenspace, and no step is spent
rotating or ordering columns (the head does that exactly). Measured on Cora's LCC, k = 16, MLP, library
defaults: subspace distance 4.8e-5 in 450 steps with the head (``benchmarks/results/encoders_networks.md``),
0.25 after 1000 steps with a trained linear head (the previous run of ``benchmarks/encoders.py``).

On mini-batches (:class:`~pyg_spectral.training.minibatch.MiniBatchObjective`, node and neighbor samplers) the
head is solved each step from running averages of the batches' moments :math:`\hat E[h h^\top]`,
:math:`\hat E[h\,(Th)^\top]` (:meth:`solve_moments_`), the trunk is trained on the row-wise Ritz residual
(:func:`~pyg_spectral.losses.ritz_residual_loss`) and the estimator re-solves the head from exact moments,
streamed over node chunks, at the end.

The head is a buffer: after training, :meth:`forward` applies the last solved head to any graph, so the model
stays inductive (new nodes go through the trunk and the same head).

Example:
    >>> import torch
    >>> from pyg_spectral.encoders import MLPEncoder
    >>> enc = RitzHead(MLPEncoder(3, 8, hidden_channels=16), out_channels=2)
    >>> x = torch.randn(20, 3)
    >>> h = enc.features(x)
    >>> t = torch.diag(torch.linspace(1, 0, 20))          # an operator with known eigenvectors
    >>> _ = enc.solve_(h.detach(), t @ h.detach(), torch.full((20,), 1 / 20))
    >>> enc(x).shape
    torch.Size([20, 2])
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from ..spectrum.ritz import ritz_from_moments, ritz_moments, ritz_start
from .base import encoder_inputs

__all__ = ["RitzHead"]


class RitzHead(nn.Module):
    """``trunk`` (``[n, d]`` outputs, ``d = width``) followed by a Rayleigh–Ritz head (``[d, m]`` buffer); see
    the module docstring. ``inputs`` and ``takes_node_ids`` are the trunk's."""

    def __init__(self, trunk: nn.Module, out_channels: int, width: Optional[int] = None):
        super().__init__()
        self.trunk, self.out_channels = trunk, int(out_channels)
        self.inputs = encoder_inputs(trunk)
        self.takes_node_ids = getattr(trunk, "takes_node_ids", False)
        # sized when the trunk's width is known, so that checkpoints and averaged copies load into it
        self.register_buffer("coef", torch.zeros(int(width), self.out_channels) if width else
                             torch.empty(0, self.out_channels))

    def features(self, *args, **kwargs) -> Tensor:
        """The trunk's outputs :math:`H` (the basis the head combines)."""
        return self.trunk(*args, **kwargs)

    @torch.no_grad()
    def solve_(self, h: Tensor, th: Tensor, weight: Optional[Tensor] = None, equilibrate: bool = False) -> "RitzHead":
        """Set the head from the trunk's outputs ``h`` and the operator applied to them ``th``. A span of rank
        below ``m`` leaves the missing columns at zero."""
        self.solve_moments_(*ritz_moments(h, th, weight), dtype=h.dtype, equilibrate=equilibrate)
        return self

    @torch.no_grad()
    def solve_moments_(self, gram: Tensor, cross: Tensor, dtype: Optional[torch.dtype] = None,
                       rcond: float = 1e-7, equilibrate: bool = False) -> Tensor:
        r"""Set the head from the moments :math:`H^\top R H` and :math:`H^\top R\, TH` (``[d, d]``, e.g. running
        averages over mini-batches), kept in ``dtype`` (default: the head's); returns the ``m`` Ritz values the
        head's columns carry (0 past the rank). Directions of the span with a Gram eigenvalue below ``rcond``
        times the largest are dropped (see :func:`~pyg_spectral.spectrum.ritz.rayleigh_ritz`); with ``equilibrate``
        after scaling every trunk column to unit norm (the estimator's final solve: trained columns grow, and a
        kept Ritz start's columns keep unit norm; :func:`~pyg_spectral.spectrum.ritz.ritz_from_moments`)."""
        theta, c = ritz_from_moments(gram, cross, rcond, equilibrate=equilibrate)
        c = ritz_start(c, theta)  # column l scaled by sqrt(theta_l): the loss minimiser in the span
        coef = torch.zeros(gram.size(0), self.out_channels, dtype=torch.float64, device=gram.device)
        values = torch.zeros(self.out_channels, dtype=torch.float64, device=gram.device)
        r = min(self.out_channels, c.size(1))
        coef[:, :r], values[:r] = c[:, :r], theta[:r]
        if self.coef.shape == coef.shape:
            self.coef.copy_(coef)
        else:
            self.coef = coef.to(self.coef.dtype if dtype is None else dtype)
        return values

    def forward(self, *args, **kwargs) -> Tensor:
        h = self.trunk(*args, **kwargs)
        if self.coef.numel() == 0:
            raise RuntimeError("RitzHead has no head yet: call solve_ (the full-batch objective does, every step).")
        return h @ self.coef.to(h.dtype)

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}"
