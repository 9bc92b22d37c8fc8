"""Atomic file writes: a reader never sees a half-written output."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Union

__all__ = ["atomic_save"]


def atomic_save(out: Union[str, Path], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp)`` on a temporary file beside ``out``, then rename it onto ``out``.

    The rename is atomic on POSIX, so ``out`` is either the old file or the whole new one; the
    temporary file is removed on every error path.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
