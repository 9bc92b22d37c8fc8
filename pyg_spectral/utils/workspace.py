"""Scratch buffers reused from call to call.

Why: the batched inductive pipeline allocates dozens of multi-megabyte blocks per batch of graphs. glibc's
``malloc`` returns the freed top of its heap to the OS between batches, so the next batch's blocks page-fault
again on first touch: measured on ``benchmarks/pe_throughput.py`` (batches of 100 graphs, ~50k nodes),
about 11k page faults and 20% of a batch's time. The hot blocks (GNN layers, the subspace iteration's
``[P, m]`` blocks) are taken from here instead, once per thread and size.
"""
from __future__ import annotations

import math
import threading
from typing import Dict, Sequence

import torch
from torch import Tensor

__all__ = ["Workspace", "thread_workspace"]

#: Buffers above this many bytes are not kept (a fresh tensor each time): memory held between calls stays
#: bounded, and at that size the page faults are a small part of the work done on the block.
MAX_KEPT_BYTES = 256 * 2**20


class Workspace:
    """Named buffers, grown on demand and kept: ``get(name, shape, dtype, device)`` returns an uninitialized
    view that stays valid until ``name`` is requested again (so a caller uses one name per live block and
    never returns such a view to its own caller)."""

    def __init__(self) -> None:
        self._buffers: Dict[str, Tensor] = {}

    def get(self, name: str, shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> Tensor:
        numel = math.prod(int(s) for s in shape)
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel or buf.dtype != dtype or buf.device != torch.device(device):
            size = numel + numel // 4  # slack: the next batch is rarely the same size
            if size * torch.empty(0, dtype=dtype).element_size() > MAX_KEPT_BYTES:
                self._buffers.pop(name, None)
                return torch.empty(tuple(shape), dtype=dtype, device=device)
            buf = self._buffers[name] = torch.empty(size, dtype=dtype, device=device)
        return buf[:numel].view(tuple(shape))

    def clear(self) -> None:
        """Drop every kept buffer."""
        self._buffers.clear()

    def __repr__(self) -> str:
        total = sum(b.numel() * b.element_size() for b in self._buffers.values())
        return f"{self.__class__.__name__}(buffers={len(self._buffers)}, bytes={total})"


_LOCAL = threading.local()


def thread_workspace() -> Workspace:
    """This thread's workspace (threads never share buffers)."""
    ws = getattr(_LOCAL, "workspace", None)
    if ws is None:
        ws = _LOCAL.workspace = Workspace()
    return ws
