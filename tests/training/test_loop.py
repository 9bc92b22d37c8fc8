"""The shared optimisation loop: stopping rule, history, divergence."""
from __future__ import annotations

import math

import pytest
import torch

from pyg_spectral.training import train_loop
from pyg_spectral.training.loop import DivergenceError


def test_stops_when_residual_reaches_tol():
    residuals = iter([1.0, 0.1, 1e-5, 1e-7])
    history, steps, converged = train_loop(
        lambda: torch.tensor(1.0), lambda: {"residual": next(residuals)},
        max_steps=1000, eval_every=10, tol=1e-4, progress=False,
    )
    assert converged and steps == 30
    assert [h["step"] for h in history] == [10, 20, 30]
    assert all({"step", "time", "loss", "lr", "residual"} <= set(h) for h in history)


def test_runs_to_max_steps_and_evaluates_last_step():
    history, steps, converged = train_loop(
        lambda: torch.tensor(2.0), lambda: {"residual": 1.0},
        max_steps=25, eval_every=10, tol=1e-4, progress=False,
    )
    assert not converged and steps == 25
    assert [h["step"] for h in history] == [10, 20, 25]
    assert history[-1]["loss"] == 2.0


def test_loss_is_averaged_between_evaluations():
    values = iter(range(1, 100))
    history, _, _ = train_loop(
        lambda: torch.tensor(float(next(values))), lambda: {"residual": 1.0},
        max_steps=4, eval_every=4, tol=0.0, progress=False,
    )
    assert history[0]["loss"] == pytest.approx(2.5)


def test_nan_loss_raises_divergence_error():
    with pytest.raises(DivergenceError, match="nan"):
        train_loop(lambda: torch.tensor(math.nan), lambda: {"residual": 1.0},
                   max_steps=10, eval_every=5, tol=0.0, progress=False)


def test_on_record_sees_each_record_and_the_history_so_far():
    seen = []
    history, _, _ = train_loop(
        lambda: torch.tensor(1.0), lambda: {"residual": 1.0}, max_steps=30, eval_every=10, tol=0.0,
        progress=False, on_record=lambda record, so_far: seen.append((record, [r["step"] for r in so_far])),
        start_step=10, history=[{"step": 10, "time": 0.0, "loss": 1.0, "lr": 0.0, "residual": 1.0}],
    )
    assert [(r["step"], steps) for r, steps in seen] == [(20, [10, 20]), (30, [10, 20, 30])]
    assert seen[-1][0] is history[-1]
