"""Optimizer defaults."""
from __future__ import annotations

import pytest
import torch

from pyg_spectral.training import build_optimizer, resolve_optimizer


def test_auto_for_table_is_heavy_ball_scaled_by_spectral_radius():
    assert resolve_optimizer("auto", None, "auto", True, 1.0) == ("sgd", 0.2, "constant")
    assert resolve_optimizer("auto", None, "auto", True, 4.0) == ("sgd", 0.05, "constant")


def test_auto_for_networks_is_adam_cosine():
    assert resolve_optimizer("auto", None, "auto", False) == ("adam", 1e-3, "cosine")
    assert resolve_optimizer("auto", 5e-3, "constant", False) == ("adam", 5e-3, "constant")


@pytest.mark.parametrize("args,match", [
    (("lbfgs", None, "auto", True), "Unknown optimizer"),
    (("sgd", -1.0, "auto", True), "lr must be"),
    (("sgd", float("nan"), "auto", True), "lr must be"),
    (("sgd", 0.1, "step", True), "Unknown lr_schedule"),
])
def test_bad_choices(args, match):
    with pytest.raises(ValueError, match=match):
        resolve_optimizer(*args)


def test_cosine_schedule_decays_to_one_percent():
    p = torch.nn.Parameter(torch.zeros(1))
    opt, sched = build_optimizer([p], "adam", 1.0, "cosine", max_steps=10)
    for _ in range(10):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
