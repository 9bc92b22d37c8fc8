"""Training: optimizers, schedules and the optimisation loop."""
from .loop import DivergenceError, train_loop
from .optim import build_optimizer, resolve_optimizer

__all__ = ["train_loop", "DivergenceError", "build_optimizer", "resolve_optimizer"]
