r"""Files: atomic writes (a reader never sees a half-written output) and safe reads of ``torch.save`` files.

``torch.load`` outside its ``weights_only`` mode unpickles arbitrary Python objects, so a crafted ``.pt`` runs any
code it names on load. Every file a user hands to pyg_spectral (graphs, checkpoints, caches, OGB processed
files) is read by :func:`safe_torch_load` instead: ``weights_only=True`` plus an allow-list of exactly the
classes a saved PyG :class:`~torch_geometric.data.Data` needs (:func:`pyg_safe_globals`), active only for
the duration of that one load.

>>> import os, tempfile, torch
>>> from torch_geometric.data import Data
>>> path = os.path.join(tempfile.mkdtemp(), "g.pt")
>>> atomic_save(path, lambda tmp: torch.save(Data(edge_index=torch.tensor([[0, 1], [1, 0]])), tmp))
>>> safe_torch_load(path, mmap=True).edge_index.tolist()
[[0, 1], [1, 0]]
"""
from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Union

import torch

__all__ = ["atomic_save", "safe_torch_load", "pyg_safe_globals", "current_umask"]


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no way to read it without setting it elsewhere: restore at once
    os.umask(mask)
    return mask


def atomic_save(out: Union[str, Path], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp)`` on a temporary file beside ``out``, then rename it onto ``out``.

    The rename is atomic on POSIX, so ``out`` is either the old file or the whole new one; the
    temporary file is removed on every error path (``KeyboardInterrupt`` included). ``mkstemp``
    creates the file with mode ``0600``; it is given ``0666 & ~umask`` before the rename, the mode an
    ordinary ``open(out, "w")`` would have produced.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _pyg_classes() -> list:
    from torch_geometric.data.data import Data, DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import BaseStorage, EdgeStorage, GlobalStorage, NodeStorage

    return [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage, BaseStorage, NodeStorage, EdgeStorage]


@contextlib.contextmanager
def pyg_safe_globals() -> Iterator[None]:
    """Allow ``torch.load(weights_only=True)`` to rebuild PyG ``Data`` objects, inside this block only.

    The allow-list names PyG's storage classes and nothing that executes code; torch's default
    behaviour is back when the block exits.
    """
    with torch.serialization.safe_globals(_pyg_classes()):
        yield


def _refusal(path: Union[str, Path], exc: BaseException) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "GLOBAL" in line:
            name = line.split("GLOBAL", 1)[1].split()[0]
            if name.endswith(".") or "." not in name:  # the name itself was cut off
                return f"{path}: not a complete torch.save file (truncated or corrupt?)"
            return (f"{path}: refusing to load: the file names the Python object {name}, which is neither a "
                    "tensor nor a PyG Data; unpickling it could run arbitrary code")
    detail = next((ln.strip() for ln in text.splitlines()[1:] if ln.strip() and "WeightsUnpickler" not in ln
                   and "Check the documentation" not in ln), "")
    return (f"{path}: refusing to load: not a file of tensors and PyG Data that torch.load(weights_only=True) "
            f"accepts (a raw pickle or another program's objects?{' ' + detail if detail else ''})")


def safe_torch_load(path: Union[str, Path], *, map_location: Any = "cpu", mmap: bool = False,
                    allow_pyg: bool = True) -> Any:
    """``torch.load`` with ``weights_only=True`` (and PyG ``Data`` allowed when ``allow_pyg``).

    Args:
        path: a file written by ``torch.save``, zip (default) or legacy format.
        map_location: as in ``torch.load``.
        mmap: memory-map the tensors (processes of one machine then share the pages); honoured for
            zip-format files, legacy-format files are read normally since torch cannot map them.
        allow_pyg: also allow the classes of a saved PyG ``Data``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file names other Python objects (refused before anything runs), or is empty,
            truncated or not a ``torch.save`` file. The message is one line and names ``path``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty")
    use_mmap = bool(mmap) and zipfile.is_zipfile(path)
    ctx = pyg_safe_globals() if allow_pyg else contextlib.nullcontext()
    try:
        with ctx:
            return torch.load(path, map_location=map_location, weights_only=True, mmap=use_mmap)
    except pickle.UnpicklingError as exc:
        raise ValueError(_refusal(path, exc)) from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, ValueError, KeyError, TypeError,
            AttributeError, IndexError) as exc:
        # torch reports a cut-off file as an internal miniz error, an EOFError or an OSError; name it plainly
        first = str(exc).splitlines()[0].split(". ")[0][:160] if str(exc) else exc.__class__.__name__
        raise ValueError(f"{path}: not a complete torch.save file (truncated or corrupt?): {first}") from None

