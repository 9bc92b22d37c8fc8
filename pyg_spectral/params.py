"""Checks of the estimators' constructor parameters, run at the start of ``fit`` (scikit-learn's convention:
``__init__`` only stores them)."""
from __future__ import annotations

import torch

from .encoders import ENCODERS
from .losses import LOSSES
from .operators import OPERATORS
from .training.minibatch import SAMPLERS
from .utils.validation import check_dtype

__all__ = ["check_embedding_params"]


def check_embedding_params(est) -> None:
    """Raise ``ValueError`` naming the first bad parameter of a
    :class:`~pyg_spectral.NeuralSpectralEmbedding`."""
    k = est.num_components
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"num_components must be a positive integer, got {k!r}.")
    if isinstance(est.operator, str) and est.operator not in OPERATORS:
        raise ValueError(f"Unknown operator {est.operator!r}; choose one of {sorted(OPERATORS)}.")
    if est.loss not in LOSSES:
        raise ValueError(f"Unknown loss {est.loss!r}; choose one of {sorted(LOSSES)}.")
    if est.nesting not in ("joint", "sequential", None):
        raise ValueError(f"Unknown nesting {est.nesting!r}; choose 'joint', 'sequential' or None.")
    if isinstance(est.encoder, str) and est.encoder not in ENCODERS:
        raise ValueError(f"Unknown encoder {est.encoder!r}; choose one of {ENCODERS} or pass an nn.Module.")
    for name in ("max_steps", "eval_every", "filter_degree"):
        val = getattr(est, name)
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be a positive integer, got {val!r}.")
    if not (isinstance(est.tol, (int, float)) and est.tol >= 0):
        raise ValueError(f"tol must be a non-negative number, got {est.tol!r}.")
    if est.n_oversamples != "auto" and (not isinstance(est.n_oversamples, int) or est.n_oversamples < 0):
        raise ValueError(f"n_oversamples must be 'auto' or a non-negative integer, got {est.n_oversamples!r}.")
    if est.batch_size is not None and (isinstance(est.batch_size, bool) or not isinstance(est.batch_size, int)
                                        or est.batch_size < 2):
        raise ValueError(f"batch_size must be None or an integer >= 2, got {est.batch_size!r}.")
    if est.sampler not in SAMPLERS:
        raise ValueError(f"Unknown sampler {est.sampler!r}; choose one of {SAMPLERS}.")
    if est.mode not in ("evd", "svd"):
        raise ValueError(f"Unknown mode {est.mode!r}; choose 'evd' or 'svd'.")
    if est.ema_decay is not None and not (0.0 < float(est.ema_decay) < 1.0):
        raise ValueError(f"ema_decay must be in (0, 1), got {est.ema_decay!r}.")
    if isinstance(est.eval_size, bool) or not isinstance(est.eval_size, int) or est.eval_size < 2:
        raise ValueError(f"eval_size must be an integer >= 2, got {est.eval_size!r}.")
    check_dtype(est.dtype)
    if est.checkpoint_every is not None and (isinstance(est.checkpoint_every, bool) or
                                              not isinstance(est.checkpoint_every, int) or
                                              est.checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be None or a positive integer, got {est.checkpoint_every!r}.")
    if est.distributed not in ("auto", True, False):
        raise ValueError(f"distributed must be 'auto', True or False, got {est.distributed!r}.")
