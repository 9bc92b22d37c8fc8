"""Cora and CiteSeer shipped with the package, loaded through PyG's own ``Planetoid``."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Optional

from torch_geometric.datasets import Planetoid

from ..utils.io import pyg_safe_globals, safe_torch_load

__all__ = ["load_planetoid", "BUNDLED_PLANETOID", "default_cache_dir", "bundled_raw_dir"]

#: Planetoid data sets whose raw files ship inside the package (MIT licence, see planetoid_raw/LICENSE)
BUNDLED_PLANETOID = ("Cora", "CiteSeer")


def default_cache_dir() -> Path:
    """``$PYG_SPECTRAL_CACHE`` or ``~/.cache/pyg_spectral``."""
    return Path(os.environ.get("PYG_SPECTRAL_CACHE", Path.home() / ".cache" / "pyg_spectral"))


def bundled_raw_dir(name: str) -> Path:
    """Folder of the shipped raw files of a bundled Planetoid data set."""
    return Path(__file__).parent / "planetoid_raw" / name / "raw"


def load_planetoid(
    name: str,
    root: Optional[str] = None,
    transform: Optional[Callable] = None,
    pre_transform: Optional[Callable] = None,
    **kwargs,
) -> Planetoid:
    """Load a Planetoid data set with :class:`torch_geometric.datasets.Planetoid`.

    For the bundled data sets (``"Cora"``, ``"CiteSeer"``) the shipped raw
    files are copied into ``<root>/<name>/raw`` first, so PyG finds them and
    skips its download: this works offline. Other names (``"PubMed"``) go
    through PyG's normal download.

    Args:
        name: ``"Cora"``, ``"CiteSeer"`` or ``"PubMed"`` (case-insensitive).
        root: data folder (default ``<cache>/planetoid``, see :func:`default_cache_dir`).
        transform, pre_transform, **kwargs: passed to ``Planetoid``.

    Example:
        >>> dataset = load_planetoid("Cora")
        >>> data = dataset[0]       # 2708 nodes, 10556 directed edges
    """
    canonical = {n.lower(): n for n in BUNDLED_PLANETOID + ("PubMed",)}.get(name.lower())
    if canonical is None:
        raise ValueError(f"Unknown Planetoid data set {name!r}; choose 'Cora', 'CiteSeer' or 'PubMed'.")
    root_path = Path(root) if root is not None else default_cache_dir() / "planetoid"
    if canonical in BUNDLED_PLANETOID:
        # PyG lower-cases nothing here: the folder is <root>/<name>/raw.
        raw = root_path / canonical / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for src in bundled_raw_dir(canonical).iterdir():
            dst = raw / src.name
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                tmp = dst.with_suffix(dst.suffix + ".tmp")
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
    # PyG reads its processed cache with torch.load and, when the safe mode fails, falls back to full unpickling:
    # check the cache safely first, and load it with the PyG classes allowed, so nothing falls back.
    processed = root_path / canonical / "processed" / "data.pt"
    if processed.exists():
        safe_torch_load(processed)
    with pyg_safe_globals():
        return Planetoid(str(root_path), canonical, transform=transform, pre_transform=pre_transform, **kwargs)
