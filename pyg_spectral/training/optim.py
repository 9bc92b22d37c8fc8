"""Optimizer and learning-rate schedule defaults."""
from __future__ import annotations

import math
from typing import Iterable, Optional, Tuple

import torch
from torch import nn

__all__ = ["resolve_optimizer", "build_optimizer"]

OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("constant", "cosine")

#: heavy-ball SGD step for the measure-scaled embedding table (see EmbeddingEncoder)
EMBEDDING_SGD_LR = 0.2
NEURAL_ADAM_LR = 1e-3
MINIBATCH_TABLE_ADAM_LR = 0.2


def resolve_optimizer(optimizer: str, lr: Optional[float], lr_schedule: str, is_table: bool,
                      spectral_radius: float = 1.0, minibatch: bool = False,
                      num_nodes: int = 400) -> Tuple[str, float, str]:
    """Fill in ``"auto"`` choices.

    The embedding table gets heavy-ball SGD at a constant step of
    ``0.2 / spectral_radius``: on the measure-scaled table the loss curvature
    is at most ~8x the operator's spectral radius, and heavy-ball with
    momentum 0.9 is stable below ``2 (1 + 0.9) / 8``. Neural encoders get Adam
    (lr 1e-3) with a cosine schedule. A table trained on mini-batches gets
    Adam (lr 1e-2, cosine): each row is touched rarely and with a large
    importance-weighted gradient, which heavy-ball at the full-batch step
    does not survive.
    """
    if optimizer == "auto":
        optimizer = "sgd" if is_table and not minibatch else "adam"
    if lr is None and is_table and minibatch and optimizer == "adam":
        lr = MINIBATCH_TABLE_ADAM_LR / math.sqrt(max(int(num_nodes), 1))
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose 'auto' or one of {OPTIMIZERS}.")
    if lr is None:
        lr = EMBEDDING_SGD_LR / max(spectral_radius, 1e-12) if optimizer == "sgd" else NEURAL_ADAM_LR
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    if lr_schedule == "auto":
        lr_schedule = "constant" if optimizer == "sgd" else "cosine"
    if lr_schedule not in SCHEDULES:
        raise ValueError(f"Unknown lr_schedule {lr_schedule!r}; choose 'auto' or one of {SCHEDULES}.")
    return optimizer, float(lr), lr_schedule


def build_optimizer(params: Iterable[nn.Parameter], optimizer: str, lr: float, lr_schedule: str,
                    max_steps: int, momentum: float = 0.9, weight_decay: float = 0.0):
    """Return ``(optimizer, scheduler)``."""
    params = list(params)
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(max_steps), 1), eta_min=lr * 1e-2)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched
