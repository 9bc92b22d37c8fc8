"""Variational losses whose minimisers are the top eigenfunctions of an operator."""
from typing import Any, Dict

from .base import SpectralLoss, split_batch
from .baselines import MuEigenGameLoss, NeuralEFLoss, SpINLoss
from .lora import NestedLoRALoss
from .moments import cross, gram
from .nesting import nesting_masks, prefix_weights
from .omm import NestedOMMLoss
from .grouped import GroupedNestedLoRALoss
from .svd import nested_lora_svd_loss
from .residual import ritz_residual_loss

__all__ = [
    "SpectralLoss",
    "NestedLoRALoss",
    "NestedOMMLoss",
    "SpINLoss",
    "NeuralEFLoss",
    "MuEigenGameLoss",
    "nesting_masks",
    "prefix_weights",
    "gram",
    "cross",
    "split_batch",
    "nested_lora_svd_loss",
    "ritz_residual_loss",
    "GroupedNestedLoRALoss",
    "LOSSES",
    "build_loss",
]

LOSSES: Dict[str, type] = {
    "nested_lora": NestedLoRALoss,
    "nested_omm": NestedOMMLoss,
    "lora": NestedLoRALoss,  # un-nested (spectral contrastive): nesting forced to None
    "spin": SpINLoss,
    "neuralef": NeuralEFLoss,
    "mu_eigengame": MuEigenGameLoss,
}

#: losses that learn an ordered basis through nesting (the others order by their own mechanism, or not at all)
NESTED = ("nested_lora", "nested_omm")


def build_loss(name: str, num_components: int, nesting="joint", **kwargs: Any) -> SpectralLoss:
    """Build a loss by name (see :data:`LOSSES`). ``"lora"`` is NestedLoRA without nesting
    (the spectral contrastive loss of HaoChen et al. 2021: it learns the subspace, not the order)."""
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; choose one of {sorted(LOSSES)}.")
    if name == "lora":
        nesting = None
    return LOSSES[name](num_components, nesting=nesting, **kwargs)
