r"""Ritz evaluators: how far the learned span is from an invariant subspace, measured during training.

Each evaluator is called with the model to evaluate (the encoder, or its EMA average) and returns a history
record (:func:`~pyg_spectral.spectrum.ritz.ritz_record`): the top-``k`` Ritz values and the max residual
:math:`\|Tu - \theta u\|`, which needs no ground truth.

* :class:`ExactRitzEvaluator`: outputs at every node, one sparse product;
* :class:`HeldOutRitzEvaluator`: a fixed node sample of a mini-batch objective (large graphs).
"""
from __future__ import annotations

from typing import Any, Callable, Dict

import torch
from torch import Tensor, nn

from ..spectrum.ritz import ritz_record

__all__ = ["ExactRitzEvaluator", "HeldOutRitzEvaluator"]


class ExactRitzEvaluator:
    """Rayleigh–Ritz on the outputs at every node, ``outputs(model) -> [n, m]``, with the base operator."""

    def __init__(self, op, k: int, outputs: Callable[[nn.Module], Tensor]):
        self.base, self.measure, self.k, self.outputs = op.base, op.measure, int(k), outputs

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> Dict[str, Any]:
        f = self.outputs(model)
        return ritz_record(f, self.base.matvec(f), self.k, self.base, self.measure)


class HeldOutRitzEvaluator:
    """Rayleigh–Ritz from sample moments on a fixed held-out node sample of ``objective``
    (:class:`~pyg_spectral.training.minibatch.MiniBatchObjective`) drawn from the measure."""

    def __init__(self, objective, k: int, size: int, seed: int):
        self.objective, self.k = objective, int(k)
        self.n_id, self.weight = objective.held_out(size, seed)

    def __call__(self, model: nn.Module) -> Dict[str, Any]:
        return self.objective.sample_ritz(self.n_id, self.weight, self.k, encoder=model)
