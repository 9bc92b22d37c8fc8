"""The trainer on its own: it converges, keeps an EMA, and stops at tol or max_steps."""
from __future__ import annotations

import math

import torch

from pyg_spectral.datasets import cycle_graph, laplacian_spectrum
from pyg_spectral.encoders import EmbeddingEncoder
from pyg_spectral.losses import build_loss
from pyg_spectral.operators import build_operator
from pyg_spectral.training.evaluator import ExactRitzEvaluator
from pyg_spectral.training.objective import FullBatchObjective
from pyg_spectral.training.trainer import Trainer


def _setup(n=20, m=6):
    op = build_operator("laplacian", cycle_graph(n).edge_index, num_nodes=n, dtype=torch.float64)
    enc = EmbeddingEncoder(n, m, measure=op.measure, seed=0).double().ritz_initialize_(op)
    return op, enc


def test_trainer_converges_to_the_closed_form_spectrum():
    op, enc = _setup()
    trainer = Trainer(enc, optimizer="sgd", lr=0.2, max_steps=3000, eval_every=25, tol=1e-6, progress=False)
    result = trainer.run(FullBatchObjective(op, enc), build_loss("nested_lora", 6).double(),
                         ExactRitzEvaluator(op, 3, lambda model: model()))
    assert result.converged and result.steps < 3000
    expected = laplacian_spectrum("cycle", 20)[:3]
    assert max(abs(a - b) for a, b in zip(result.history[-1]["eigenvalues"], expected)) < 1e-8


def test_trainer_stops_at_max_steps_and_returns_the_ema_model():
    op, enc = _setup()
    trainer = Trainer(enc, optimizer="sgd", lr=0.2, max_steps=30, eval_every=10, tol=-math.inf, ema_decay=0.5,
                      progress=False)
    result = trainer.run(FullBatchObjective(op, enc), build_loss("nested_lora", 6).double(),
                         ExactRitzEvaluator(op, 3, lambda model: model()))
    assert not result.converged and result.steps == 30 and [r["step"] for r in result.history] == [10, 20, 30]
    assert result.model is trainer.ema.module and not result.model.training
    assert not torch.equal(result.model.weight, enc.weight)  # an average of the iterates, not the last one
