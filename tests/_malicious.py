"""Crafted files that run code when unpickled: each creates ``marker`` if a loader is unsafe."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

KINDS = ("zip", "legacy", "raw_pickle")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):  # unpickling calls os.system("touch MARKER")
        return (os.system, (f"touch {self.marker}",))


def write_malicious(path: Path, kind: str, marker: Path) -> Path:
    """Write ``path`` as a zip-format ``torch.save``, a legacy-format one, or a raw ``pickle.dumps``."""
    obj = {"edge_index": torch.zeros(2, 1, dtype=torch.long), "evil": _Payload(marker)}
    if kind == "zip":
        torch.save(obj, path)
    elif kind == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    elif kind == "raw_pickle":
        path.write_bytes(pickle.dumps(obj, protocol=2))
    else:
        raise ValueError(kind)
    return path


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
