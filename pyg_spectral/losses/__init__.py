"""Variational losses whose minimisers are the top eigenfunctions of an operator."""
from typing import Any, Dict

from .base import SpectralLoss, split_batch
from .lora import NestedLoRALoss
from .moments import cross, gram
from .nesting import nesting_masks, prefix_weights
from .omm import NestedOMMLoss

__all__ = [
    "SpectralLoss",
    "NestedLoRALoss",
    "NestedOMMLoss",
    "nesting_masks",
    "prefix_weights",
    "gram",
    "cross",
    "split_batch",
    "LOSSES",
    "build_loss",
]

LOSSES: Dict[str, type] = {
    "nested_lora": NestedLoRALoss,
    "nested_omm": NestedOMMLoss,
}


def build_loss(name: str, num_components: int, nesting="joint", **kwargs: Any) -> SpectralLoss:
    """Build a loss by name (see :data:`LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; choose one of {sorted(LOSSES)}.")
    return LOSSES[name](num_components, nesting=nesting, **kwargs)
