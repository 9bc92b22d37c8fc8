r"""Training checkpoints: what is saved, how a resume is checked, and why it continues bit for bit.

A checkpoint (written by rank 0, atomically: temporary file then ``os.replace``) holds the encoder,
optimizer, schedule and EMA states, the history, the step, the random state of *every* rank's sampler
(gathered first), and the resume contract:

* ``settings_digest``: the settings and graph fingerprint of the run (a checkpoint of other settings is
  refused);
* ``world_size``: the number of processes;
* ``num_threads``: ``torch.get_num_threads()`` of the writer. CPU kernels split their reductions by
  thread, so a float sum over 1 thread and over 2 threads differ in the last bits; a run resumed with
  another thread count would not continue the saved one bit for bit. A mismatch therefore **raises**
  :class:`~pyg_spectral.exceptions.CheckpointError` (rather than warns), naming both counts;
* ``checksum``: the SHA-256 of every stored value (tensor bytes with their dtype and shape, and the
  other entries), so a flipped bit in a state dict or generator state is detected instead of silently
  resumed from.

Reading is :func:`~pyg_spectral.utils.io.safe_torch_load` (``weights_only=True``): a crafted file that
names Python objects is refused before any of its code runs. Every problem is a ``CheckpointError``
naming the file and the cause (a missing key by name, never a bare ``KeyError``).

Format history: ``CHECKPOINT_FORMAT = 2`` adds ``num_threads`` and ``checksum``. Files of format 1
(written before) are still read; having neither field, they are resumed without those two checks.

Bit-exact resumption holds for the samplers that draw from the per-rank generator (node, edge, and the
pure-torch neighbor sampler); PyG's compiled neighbor sampler (``sampler_backend="pyg"``) draws from
torch's global generator, which is reseeded per rank but not checkpointed, so a resumed run is then
equivalent in law, not bit for bit.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..exceptions import CheckpointError
from ..utils.io import atomic_save, safe_torch_load

__all__ = ["CHECKPOINT_FORMAT", "READABLE_FORMATS", "save_checkpoint", "load_checkpoint", "TrainingCheckpoint",
           "checkpoint_checksum", "CheckpointError"]

CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)
#: keys every checkpoint has, by format (the state names are checked by :meth:`TrainingCheckpoint.resume`)
_REQUIRED = {
    1: ("settings_digest", "world_size", "step", "history", "converged", "generator_states"),
    2: ("settings_digest", "world_size", "step", "history", "converged", "generator_states", "num_threads",
        "checksum"),
}


def _feed(h: "hashlib._Hash", obj: Any) -> None:
    if isinstance(obj, Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(obj.shape)};".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)};".encode())
        # keys may mix ints and strings (optimizer states): order them by type and text
        for key in sorted(obj, key=lambda key: (type(key).__name__, repr(key))):
            h.update(f"K{key!r};".encode())
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)};".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update(f"V{type(obj).__name__}:{obj!r};".encode())


def checkpoint_checksum(payload: Dict[str, Any]) -> str:
    """SHA-256 (hex) of every entry of ``payload`` but ``checksum`` itself, tensors by their bytes."""
    h = hashlib.sha256()
    _feed(h, {key: value for key, value in payload.items() if key != "checksum"})
    return h.hexdigest()


def save_checkpoint(path: str, ctx, state: Dict[str, Any], generator: Optional[torch.Generator]) -> None:
    """Gather every rank's sampler state, then write ``state`` atomically from rank 0 (collective)."""
    gen_state = generator.get_state().cpu() if generator is not None else None
    gen_states = ctx.all_gather_object(gen_state)
    if not ctx.is_main:
        return
    payload = dict(state, format=CHECKPOINT_FORMAT, world_size=ctx.world_size, generator_states=gen_states,
                   num_threads=torch.get_num_threads())
    payload["checksum"] = checkpoint_checksum(payload)
    atomic_save(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str, ctx, settings_digest: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and check it fits this run.

    Raises:
        CheckpointError: the file cannot be read safely, is of another format, lacks a key, fails its
            checksum, or was written with other settings, another world size or another thread count.
    """
    try:
        payload = safe_torch_load(path, map_location=map_location, allow_pyg=False)
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"Cannot read checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a pyg_spectral checkpoint of format {CHECKPOINT_FORMAT} "
                              f"(found {found!r}; readable formats {READABLE_FORMATS}).")
    fmt = payload["format"]
    missing = [key for key in _REQUIRED[fmt] if key not in payload]
    if missing:
        raise CheckpointError(f"{path} is not a complete checkpoint: key {missing[0]!r} is missing"
                              + (f" (and {missing[1:]})" if missing[1:] else "") + ".")
    if fmt >= 2 and payload["checksum"] != checkpoint_checksum(payload):
        raise CheckpointError(f"{path} fails its checksum: a stored tensor or value was modified or corrupted "
                              "after it was written. Delete it to start over.")
    if payload["settings_digest"] != settings_digest:
        raise CheckpointError(
            f"{path} was written with other settings (digest {payload['settings_digest']} != {settings_digest}); "
            "delete it, pass another checkpoint path, or use the original settings."
        )
    if payload["world_size"] != ctx.world_size:
        raise CheckpointError(f"{path} was written by {payload['world_size']} processes; this run has "
                              f"{ctx.world_size}. Resume with the same number of processes.")
    states = payload["generator_states"]
    if not isinstance(states, list) or len(states) != ctx.world_size or \
            not all(s is None or isinstance(s, Tensor) for s in states):
        raise CheckpointError(f"{path}: 'generator_states' must be a list of {ctx.world_size} generator states.")
    threads = payload.get("num_threads")
    if fmt >= 2 and threads != torch.get_num_threads():
        now = torch.get_num_threads()
        raise CheckpointError(
            f"{path} was written by a run with {threads} torch CPU thread(s); this process has {now}. Results "
            f"with {threads} vs {now} threads are not bitwise identical (reductions are split by thread), so "
            f"the resumed run would not continue the saved one exactly: resume with {threads} thread(s) "
            f"(torch.set_num_threads({threads}), --threads {threads} or OMP_NUM_THREADS={threads})."
        )
    return payload


class TrainingCheckpoint:
    """The checkpoint of one training run at ``path``: :meth:`resume` restores a run from it, :meth:`record`
    writes it every ``every`` steps and at the run's last record (collective: call on every rank).

    ``states``: name -> object with ``state_dict`` / ``load_state_dict`` (encoder, optimizer, schedule, EMA;
    ``None`` entries are saved as ``None``); ``generator``: this rank's sampler generator, if any.
    """

    def __init__(self, path: str, ctx, settings_digest: str, every: int,
                 states: Dict[str, Any], generator: Optional[torch.Generator]):
        self.path, self.ctx, self.digest, self.every = path, ctx, settings_digest, int(every)
        self.states, self.generator = states, generator
        self.last_saved = 0

    def resume(self, map_location: Any = "cpu") -> Tuple[int, List[Dict[str, Any]], bool]:
        """``(step, history, converged)`` of the saved run, its states loaded; ``(0, [], False)`` if there
        is no checkpoint file yet."""
        if not os.path.exists(self.path):
            return 0, [], False
        saved = load_checkpoint(self.path, self.ctx, self.digest, map_location=map_location)
        missing = [name for name in self.states if name not in saved]
        if missing:
            raise CheckpointError(f"{self.path} is not a complete checkpoint: key {missing[0]!r} is missing.")
        for name, obj in self.states.items():
            if obj is None:
                continue
            if not isinstance(saved[name], dict):
                raise CheckpointError(f"{self.path}: {name!r} is not a state dict "
                                      f"(found {type(saved[name]).__name__}).")
            try:
                obj.load_state_dict(saved[name])
            except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                raise CheckpointError(f"{self.path}: the saved {name!r} state does not fit this run: {first}") \
                    from None
        state = saved["generator_states"][self.ctx.rank]
        if self.generator is not None and state is not None:
            try:
                self.generator.set_state(state.cpu())  # generator states are CPU byte tensors, CUDA ones too
            except RuntimeError as exc:
                raise CheckpointError(f"{self.path}: invalid sampler generator state: {exc}") from None
        try:
            step, history, converged = int(saved["step"]), list(saved["history"]), bool(saved["converged"])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{self.path}: malformed 'step', 'history' or 'converged': {exc}") from None
        self.last_saved = step
        return step, history, converged

    def record(self, record: Dict[str, Any], history: List[Dict[str, Any]], *, final: bool,
               converged: bool) -> None:
        """Write the checkpoint if ``every`` steps passed since the last one or the run ends here."""
        if not final and record["step"] - self.last_saved < self.every:
            return
        state = {name: obj.state_dict() if obj is not None else None for name, obj in self.states.items()}
        save_checkpoint(self.path, self.ctx, dict(state, settings_digest=self.digest, step=record["step"],
                                                  history=list(history), converged=converged), self.generator)
        self.last_saved = record["step"]
