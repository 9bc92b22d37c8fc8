r"""The trainer: optimizer, schedule, EMA, steps, checkpoints and stopping, for any objective and loss.

:meth:`Trainer.run` takes an objective (``loss(loss_fn)`` from ``batch() -> (f, Tf, w)``, see
:mod:`pyg_spectral.training.objective`), a loss and a Ritz evaluator (see
:mod:`pyg_spectral.training.evaluator`) and trains until the evaluator's max residual is ``<= tol`` or
``max_steps``. Each step is ``loss(f, Tf, w).backward()`` then an optimizer and schedule step and, with
``ema_decay``, an update of the parameters' exponential moving average, which is then what is evaluated and
returned.

>>> import torch
>>> from pyg_spectral.datasets import cycle_graph
>>> from pyg_spectral.encoders import EmbeddingEncoder
>>> from pyg_spectral.losses import build_loss
>>> from pyg_spectral.operators import build_operator
>>> from pyg_spectral.training.evaluator import ExactRitzEvaluator
>>> from pyg_spectral.training.objective import FullBatchObjective
>>> op = build_operator("laplacian", cycle_graph(12).edge_index, num_nodes=12)
>>> encoder = EmbeddingEncoder(12, 6, measure=op.measure, seed=0).ritz_initialize_(op)
>>> trainer = Trainer(encoder, optimizer="sgd", lr=0.2, max_steps=2000, eval_every=25, tol=1e-4, progress=False)
>>> result = trainer.run(FullBatchObjective(op, encoder), build_loss("nested_lora", 6),
...                      ExactRitzEvaluator(op, 2, lambda model: model()))
>>> result.converged, [round(v, 4) + 0.0 for v in result.history[-1]["eigenvalues"]]
(True, [0.0, 0.134])
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional

import torch
from torch import Tensor, nn

from .loop import train_loop
from .optim import build_optimizer

__all__ = ["Trainer", "TrainResult"]


class TrainResult(NamedTuple):
    history: List[Dict[str, Any]]  #: one record per evaluation
    steps: int  #: steps run in total (a resumed run counts the saved ones)
    converged: bool  #: the max residual reached ``tol``
    model: nn.Module  #: the trained encoder, or its EMA average


class Trainer:
    """Trains an encoder on an objective with a spectral loss.

    Args:
        encoder: the module whose parameters are trained.
        optimizer, lr, lr_schedule, momentum: as resolved by
            :func:`~pyg_spectral.training.optim.resolve_optimizer` (no ``"auto"`` here).
        max_steps, eval_every, tol: stop when the evaluator's ``"residual"`` is ``<= tol`` or at ``max_steps``.
        patience: also stop (not converged; the last record has ``stalled=True``) when ``patience``
            evaluations in a row brought the best residual no 10% lower (``None``: never).
        ema_decay: keep an EMA of the parameters (and buffers) for evaluation and the result.
        train_module: the module that computes the rows with gradient when it is not ``encoder`` itself
            (its DistributedDataParallel wrapper); the objective already calls it.
        world_size: number of data-parallel ranks (DDP averages gradients; each rank's loss is scaled by it).
        checkpoint: ``None`` or a factory ``states -> TrainingCheckpoint`` given the ``dict`` of the
            encoder, optimizer, scheduler and EMA states (see :mod:`pyg_spectral.training.checkpoint`).
        is_main: whether this rank evaluates, shows progress and writes (rank 0).
        broadcast: ``obj -> obj`` from rank 0 to every rank (so that all stop at the same step).
        callback: ``callback(record, model)`` at every evaluation.
        progress, desc: the progress bar.
    """

    def __init__(self, encoder: nn.Module, *, optimizer: str, lr: float, lr_schedule: str = "constant",
                 momentum: float = 0.9, max_steps: int, eval_every: int, tol: float,
                 ema_decay: Optional[float] = None, world_size: int = 1,
                 checkpoint: Optional[Callable[[Dict[str, Any]], Any]] = None, is_main: bool = True,
                 broadcast: Callable[[Any], Any] = lambda obj: obj,
                 callback: Optional[Callable[[Dict[str, Any], nn.Module], None]] = None, progress: bool = True,
                 desc: str = "training", patience: Optional[int] = None):
        self.encoder, self.max_steps, self.eval_every, self.tol = encoder, max_steps, eval_every, tol
        self.patience = patience
        self.world_size, self.is_main, self.broadcast = world_size, is_main, broadcast
        self.callback, self.progress, self.desc = callback, progress, desc
        self.dtype: Optional[torch.dtype] = None  # set by run: the dtype batches are drawn in
        self.optimizer, self.scheduler = build_optimizer(encoder.parameters(), optimizer, lr, lr_schedule,
                                                         max_steps, momentum)
        self.ema = None
        if ema_decay is not None:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(encoder, multi_avg_fn=get_ema_multi_avg_fn(float(ema_decay)), use_buffers=True)
        self.checkpoint = None if checkpoint is None else checkpoint(
            dict(encoder=encoder, optimizer=self.optimizer, scheduler=self.scheduler, ema=self.ema))

    @property
    def model(self) -> nn.Module:
        """What is evaluated and returned: the EMA average when there is one, else the encoder."""
        return self.encoder if self.ema is None else self.ema.module

    def step(self, objective, loss_fn) -> Tensor:
        """One optimisation step; returns the detached loss (not synchronised with the device)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = objective.loss(loss_fn, self.dtype)
        # DDP averages gradients over ranks; each rank holds one share of the global loss's gradient.
        (loss * self.world_size if self.world_size > 1 else loss).backward()
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.encoder)
        return loss.detach()

    def run(self, objective, loss_fn, evaluator: Callable[[nn.Module], Dict[str, Any]],
            dtype: Optional[torch.dtype] = None,
            evaluate_start: Optional[Callable[[nn.Module], Dict[str, Any]]] = None) -> TrainResult:
        """Train until converged or ``max_steps`` (resuming from the checkpoint when there is one);
        ``evaluate_start`` (an evaluator): evaluate the start with it too, and run no step if it meets ``tol``."""
        self.dtype = dtype
        start_step, history0, done = 0, [], False
        if self.checkpoint is not None:
            start_step, history0, done = self.checkpoint.resume(
                map_location=next(self.encoder.parameters()).device)
        on_record = self._on_record if (self.callback is not None or self.checkpoint is not None) else None
        self.encoder.train()
        if done:
            history, steps, converged = history0, start_step, True
        else:
            history, steps, converged = train_loop(
                lambda: self.step(objective, loss_fn),
                # One rank evaluates and every rank gets its numbers, so that all stop at the same step.
                lambda: self.broadcast(evaluator(self.model) if self.is_main else None),
                max_steps=self.max_steps, eval_every=self.eval_every, tol=self.tol,
                progress=self.progress and self.is_main, desc=self.desc,
                lr_fn=lambda: self.optimizer.param_groups[0]["lr"], on_record=on_record,
                start_step=start_step, history=history0, patience=self.patience,
                evaluate_start=None if evaluate_start is None else
                (lambda: self.broadcast(evaluate_start(self.model) if self.is_main else None)))
        model = self.model
        model.eval()
        return TrainResult(history, steps, converged, model)

    def _on_record(self, record: Dict[str, Any], history: List[Dict[str, Any]]) -> None:
        if self.checkpoint is not None:
            converged = record["residual"] <= self.tol
            self.checkpoint.record(record, history, final=converged or record["step"] >= self.max_steps,
                                   converged=converged)
        if self.callback is not None:
            self.callback(record, self.model)
