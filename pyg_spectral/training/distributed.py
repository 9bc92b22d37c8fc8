r"""Data-parallel mini-batch training on ``torch.distributed`` (DDP), with checkpoints.

How the estimate stays unbiased across ranks
--------------------------------------------
Every rank draws its own independent batch of :math:`b` rows (its sampler is
seeded with :func:`rank_seed`), evaluates the encoder on it, and all-gathers
the batch outputs ``f`` and ``Tf`` (``[b, m]`` each, no gradient) and the
weights. Each rank then evaluates the *same* global loss on the concatenated
batch of :math:`N b` rows, in rank order, with its own rows carrying
gradient (:meth:`DistributedContext.gather_batch`). With ``split=True`` the
loss splits the global batch into consecutive parts — with 2 ranks, rank 0's
batch is one part and rank 1's the other — so the Gram estimates that are
multiplied come from *different, independent* draws, exactly as in
single-process training with a batch of :math:`N b`. The loss is therefore
the single-process unbiased estimator, not a mean of per-rank estimators.

The gradient of that global loss with respect to the parameters is the sum
over ranks of the contributions through each rank's rows. DDP all-reduces
gradients by their *mean*, so each rank back-propagates :math:`N` times the
loss; the averaged result is then exactly the single-process gradient on the
concatenated batch (tested in ``tests/training/test_distributed.py``).

Communication per step: one all-gather of :math:`2 N b m + N b` numbers
(outputs, their image and weights; ~17 MB for :math:`N = 8`,
:math:`b = 4096`, :math:`m = 136` in float32) plus DDP's all-reduce of the
gradients (the encoder's parameter count). Gathering moments instead of rows
would be smaller (:math:`O(m^2)`) but would tie the protocol to the form of
each loss; gathering rows works for every loss in :mod:`pyg_spectral.losses`.

Encoders: MLP and GNN encoders have few parameters and replicate well. A free
embedding table is replicated too (``n x m`` per rank) and DDP all-reduces
its dense ``n x m`` gradient every step: it runs (for tests and small graphs)
but scales in neither memory nor communication.

Checkpoints
-----------
:mod:`pyg_spectral.training.checkpoint` (re-exported here): rank 0 writes every rank's sampler state
with the encoder, optimizer, schedule and EMA states, so a resumed run continues bit for bit.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from ..exceptions import CheckpointError, DistributedSettingsError
from .checkpoint import CHECKPOINT_FORMAT, TrainingCheckpoint, load_checkpoint, save_checkpoint

__all__ = [
    "DistributedContext", "init_distributed", "current_context", "rank_seed", "check_consistent",
    "save_checkpoint", "load_checkpoint", "TrainingCheckpoint", "CheckpointError", "DistributedSettingsError",
    "CHECKPOINT_FORMAT", "fingerprint", "distributed_context",
]

DEFAULT_TIMEOUT_S = 600.0


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s batch sampler; rank 0 draws what a single process draws."""
    return int(seed) + 1 + 1_000_003 * int(rank)


@dataclass
class DistributedContext:
    """The process group as the estimator sees it."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather_batch(self, f: Tensor, tf: Tensor, w: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Concatenate every rank's batch in rank order; only this rank's rows carry gradient.

        The weights are divided by the world size, so that the global
        weights estimate :math:`E_\rho` once (each rank's sum to one in
        expectation).
        """
        if self.world_size == 1:
            return f, tf, w
        pieces = [torch.empty_like(t) for t in (f, tf, w) for _ in range(self.world_size)]
        fs, tfs, ws = (pieces[i * self.world_size:(i + 1) * self.world_size] for i in range(3))
        dist.all_gather(fs, f.detach().contiguous())
        dist.all_gather(tfs, tf.detach().contiguous())
        dist.all_gather(ws, w.detach().contiguous())
        fs[self.rank] = f
        return torch.cat(fs), torch.cat(tfs), torch.cat(ws) / self.world_size

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world_size == 1:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]

    def all_gather_object(self, obj: Any) -> List[Any]:
        if self.world_size == 1:
            return [obj]
        out: List[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def _object_device(self) -> Optional[torch.device]:
        return self.device if dist.get_backend() == "nccl" else None


def current_context() -> Optional[DistributedContext]:
    """The running process group as a :class:`DistributedContext`, or ``None`` outside one."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    rank, world = dist.get_rank(), dist.get_world_size()
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    return DistributedContext(rank, world, device)


def init_distributed(backend: str = "auto", timeout_s: float = DEFAULT_TIMEOUT_S) -> DistributedContext:
    """Join the process group described by the environment (``torchrun`` sets it).

    Args:
        backend: ``"gloo"`` (CPU), ``"nccl"`` (one GPU per rank, chosen by
            ``LOCAL_RANK``) or ``"auto"`` (NCCL when CUDA is available).
        timeout_s: collectives that wait longer than this raise instead of
            hanging (e.g. when another rank died).

    Without ``RANK``/``WORLD_SIZE`` in the environment (a plain
    ``python`` run), returns a one-process context and initialises nothing.
    """
    if dist.is_available() and dist.is_initialized():
        return current_context()
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistributedContext(0, 1, torch.device("cpu"))
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"Unknown backend {backend!r}; choose 'gloo', 'nccl' or 'auto'.")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError("backend='nccl' needs CUDA; use backend='gloo' on CPU.")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=float(timeout_s)))
    return current_context()


def fingerprint(settings: Dict[str, Any]) -> str:
    """A short, stable digest of JSON-able settings."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_consistent(ctx: DistributedContext, settings: Dict[str, Any]) -> None:
    """Raise :class:`DistributedSettingsError` on every rank if the ranks' settings differ."""
    everyone = ctx.all_gather_object(settings)
    reference = everyone[0]
    diffs = []
    for rank, other in enumerate(everyone[1:], start=1):
        for key in sorted(set(reference) | set(other)):
            if reference.get(key) != other.get(key):
                diffs.append(f"{key}: rank 0 has {reference.get(key)!r}, rank {rank} has {other.get(key)!r}")
    if diffs:
        raise DistributedSettingsError("Ranks disagree on their settings (start every rank with the same "
                                       "arguments and graph): " + "; ".join(diffs[:8]))


def distributed_context(mode="auto") -> Optional[DistributedContext]:
    """The process group a fit runs data parallel in: ``mode="auto"``: the current one when it has more than
    one rank, else ``None``; ``True``: that group, required; ``False``: none."""
    if mode is False:
        return None
    ctx = current_context()
    if ctx is None or ctx.world_size == 1:
        if mode is True:
            raise RuntimeError("distributed=True but no torch.distributed process group with more than one "
                               "rank is initialised; launch with torchrun and call init_distributed().")
        return None
    return ctx
