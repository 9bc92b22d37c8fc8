"""The optimisation loop shared by full-batch and mini-batch training."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from tqdm.auto import tqdm

from ..exceptions import DivergenceError

__all__ = ["train_loop", "DivergenceError"]


def train_loop(
    step_fn: Callable[[], torch.Tensor],
    eval_fn: Callable[[], Dict[str, Any]],
    *,
    max_steps: int,
    eval_every: int,
    tol: float,
    progress: bool = True,
    desc: str = "training",
    lr_fn: Callable[[], float] = lambda: float("nan"),
    on_record: Optional[Callable[[Dict[str, Any], List[Dict[str, Any]]], None]] = None,
    start_step: int = 0,
    history: Optional[List[Dict[str, Any]]] = None,
    patience: Optional[int] = None,
    evaluate_start: Optional[Callable[[], Dict[str, Any]]] = None,
) -> Tuple[List[Dict[str, Any]], int, bool]:
    """Run ``step_fn`` until the max Ritz residual from ``eval_fn`` is ``<= tol``.

    ``step_fn`` does one optimisation step and returns the (detached) loss;
    it is not synchronised with the host except at evaluations, so GPU steps
    queue up. ``eval_fn`` returns a dict with at least ``"residual"`` (max over
    the returned modes, ``inf`` if not available).

    ``on_record`` (optional) sees each history record as it is made, and the history so far
    (ending with that record).

    ``start_step`` and ``history`` resume a run (from a checkpoint): steps
    ``start_step + 1 .. max_steps`` run, records are appended to ``history``
    and their times continue from its last record.

    ``evaluate_start`` (a callable like ``eval_fn``, e.g. an exact evaluation where training's is sampled)
    evaluates the start before the first step (a record at step 0, loss ``nan``): a start that already meets
    ``tol`` (e.g. a network started at the Rayleigh–Ritz solution on its inputs) runs no step.

    Returns ``(history, steps_run, converged)``.
    """
    history = list(history or [])
    start = time.perf_counter() - (history[-1]["time"] if history else 0.0)
    converged = False
    step = int(start_step)
    losses = []
    if evaluate_start is not None and step == 0 and not history:
        record = {"step": 0, "time": time.perf_counter() - start, "loss": math.nan, "lr": lr_fn()}
        record.update(evaluate_start())
        history.append(record)
        if on_record is not None:
            on_record(record, history)
        if record["residual"] <= tol:
            return history, 0, True
    # Training stops at tol, usually long before max_steps: the bar shows the residual against tol and no
    # time-remaining estimate (one from max_steps would be hours for a run that stops in seconds).
    with tqdm(total=max_steps, initial=step, desc=desc, disable=not progress, dynamic_ncols=True, mininterval=0.5,
              leave=False, bar_format="{desc}: {n_fmt} steps (at most {total_fmt}), {elapsed}{postfix}") as bar:
        for step in range(int(start_step) + 1, max_steps + 1):
            losses.append(step_fn())
            if step % eval_every == 0 or step == max_steps:
                loss = float(torch.stack(losses).mean())
                losses = []
                if not math.isfinite(loss):
                    raise DivergenceError(
                        f"The loss became {loss} at step {step}. Lower lr (or use optimizer='adam'), "
                        "check the graph for extreme weights, or use dtype=torch.float64."
                    )
                record = {"step": step, "time": time.perf_counter() - start, "loss": loss, "lr": lr_fn()}
                record.update(eval_fn())
                history.append(record)
                if on_record is not None:
                    on_record(record, history)
                bar.set_postfix_str(f"loss {loss:.4g}, residual {record['residual']:.2e} -> tol {tol:.0e}",
                                    refresh=False)
                bar.update(step - bar.n)
                if record["residual"] <= tol:
                    converged = True
                    break
                if patience is not None and _stalled(history, patience):
                    record["stalled"] = True
                    break
    return history, step, converged


def _stalled(history: List[Dict[str, Any]], patience: int, factor: float = 0.9) -> bool:
    """The best residual of the last ``patience`` evaluations is not ``factor`` times below the best before."""
    if len(history) <= patience:
        return False
    before = min(r["residual"] for r in history[:-patience])
    recent = min(r["residual"] for r in history[-patience:])
    return not recent < factor * before
