"""Common interface of the spectral losses."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .moments import batch_weight
from .nesting import NESTINGS, nesting_masks

__all__ = ["SpectralLoss", "split_batch"]

GRADIENTS = ("custom", "autograd")


def split_batch(f: Tensor, tf: Tensor, w: Tensor, chunks: int) -> List[Tuple[Tensor, Tensor, Tensor]]:
    """Split a batch into ``chunks`` consecutive parts, each reweighted to be an
    estimate of the same expectation on its own (weights scaled by B / |part|)."""
    size = f.size(0)
    if size < chunks:
        raise ValueError(f"A batch of {size} rows cannot be split into {chunks} independent parts.")
    out = []
    for idx in torch.arange(size, device=f.device).tensor_split(chunks):
        out.append((f[idx], tf[idx], w[idx] * (size / idx.numel())))
    return out


class SpectralLoss(nn.Module):
    r"""Base class: a variational loss whose minimisers are top eigenfunctions.

    Args:
        num_components: number of learned functions :math:`m`.
        nesting: ``"joint"``, ``"sequential"`` or ``None``
            (see :mod:`pyg_spectral.losses.nesting`).
        step: joint nesting on prefix ends ``step, 2*step, ..., m``.
        weights: explicit joint-nesting prefix weights :math:`\alpha`.
        gradient: ``"custom"`` — ``tf`` is a constant (computed under
            ``no_grad``, e.g. from neighbour outputs) and the gradient uses
            self-adjointness of :math:`T`; ``"autograd"`` — ``tf`` must be
            computed from ``f`` with autograd, and gradients flow through
            :math:`T`.

    Calling the loss::

        loss = loss_fn(f, tf, weight=None, split=False)

    with ``f`` the outputs ``[B, m]`` at a batch of nodes, ``tf`` the operator
    applied to the outputs at the same nodes, ``weight`` (``[B]``) such that
    :math:`\sum_b w_b g(x_b)` estimates :math:`E_\rho[g]` (default
    :math:`1/B`), and ``split=True`` to estimate products of expectations from
    independent parts of the batch (unbiased mini-batch losses; see
    :meth:`independent_parts`). With the exact full graph, ``split=False``.
    """

    psd_required: bool = False
    #: relative curvature of the loss (default step sizes are divided by it)
    curvature: float = 1.0

    def __init__(
        self,
        num_components: int,
        nesting: Optional[str] = "joint",
        step: int = 1,
        weights: Optional[Sequence[float]] = None,
        gradient: str = "custom",
    ):
        super().__init__()
        if int(num_components) < 1:
            raise ValueError(f"num_components must be >= 1, got {num_components}.")
        if nesting not in NESTINGS:
            raise ValueError(f"Unknown nesting {nesting!r}; choose 'joint', 'sequential' or None.")
        if gradient not in GRADIENTS:
            raise ValueError(f"Unknown gradient {gradient!r}; choose one of {GRADIENTS}.")
        self.num_components = int(num_components)
        self.nesting = nesting
        self.step = int(step)
        self.gradient = gradient
        v, W = nesting_masks(self.num_components, nesting, step, weights)
        self.register_buffer("vector_mask", v, persistent=False)
        self.register_buffer("matrix_mask", W, persistent=False)

    #: number of independent parts a split batch needs
    independent_parts: int = 2

    @property
    def sequential(self) -> bool:
        return self.nesting == "sequential"

    def check_operator(self, operator) -> None:
        """Raise if the loss cannot be used with ``operator``."""
        if self.psd_required and not operator.is_psd:
            raise ValueError(
                f"{self.__class__.__name__} needs a positive semi-definite operator, but "
                f"{getattr(operator, 'name', operator)!r} is not PSD: with a negative eigenvalue the loss is "
                "unbounded below. Use operator='lazy_adjacency' or 'laplacian'."
            )

    def _check_inputs(self, f: Tensor, tf: Tensor, weight: Optional[Tensor]) -> Tensor:
        if f.dim() != 2 or f.size(1) != self.num_components:
            raise ValueError(f"f must have shape [batch, {self.num_components}], got {list(f.shape)}.")
        if tf.shape != f.shape:
            raise ValueError(f"tf must have the shape of f {list(f.shape)}, got {list(tf.shape)}.")
        if self.gradient == "autograd" and f.requires_grad and not tf.requires_grad:
            raise ValueError(
                "gradient='autograd' needs tf computed from f with autograd (tf.requires_grad is False); "
                "use gradient='custom' when tf is computed without gradient."
            )
        return batch_weight(f, weight)

    def _masks(self, f: Tensor) -> Tuple[Tensor, Tensor]:
        return self.vector_mask.to(f.dtype), self.matrix_mask.to(f.dtype)

    def extra_repr(self) -> str:
        return (
            f"num_components={self.num_components}, nesting={self.nesting!r}, "
            f"step={self.step}, gradient={self.gradient!r}"
        )
