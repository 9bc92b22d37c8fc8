"""Workspace: named scratch buffers reused from call to call."""
from __future__ import annotations

import threading

import torch

from pyg_spectral.utils import workspace as _workspace
from pyg_spectral.utils.workspace import Workspace, thread_workspace


def test_buffers_are_reused_and_grown():
    ws = Workspace()
    a = ws.get("a", (10, 3), torch.float32, torch.device("cpu"))
    assert a.shape == (10, 3) and a.dtype == torch.float32
    smaller = ws.get("a", (4, 5), torch.float32, torch.device("cpu"))
    assert smaller.data_ptr() == a.data_ptr()  # same storage, new shape
    larger = ws.get("a", (100, 3), torch.float32, torch.device("cpu"))
    assert larger.shape == (100, 3)
    other = ws.get("b", (10, 3), torch.float32, torch.device("cpu"))
    assert other.data_ptr() != larger.data_ptr()  # names never share storage
    as_double = ws.get("b", (10, 3), torch.float64, torch.device("cpu"))
    assert as_double.dtype == torch.float64
    assert "buffers=2" in repr(ws)
    ws.clear()
    assert "buffers=0" in repr(ws)


def test_blocks_over_the_cap_are_not_kept(monkeypatch):
    monkeypatch.setattr(_workspace, "MAX_KEPT_BYTES", 1000)
    ws = Workspace()
    big = ws.get("a", (100, 10), torch.float32, torch.device("cpu"))
    assert big.shape == (100, 10) and "buffers=0" in repr(ws)


def test_each_thread_has_its_own_workspace():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(thread_workspace()))
    thread.start()
    thread.join()
    assert thread_workspace() is thread_workspace() and seen[0] is not thread_workspace()
