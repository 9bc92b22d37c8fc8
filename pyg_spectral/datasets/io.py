"""Reading graphs from edge-list files."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Union

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

__all__ = ["read_edge_list"]


def read_edge_list(path: Union[str, Path], undirected: bool = True) -> Data:
    """Read ``u v`` or ``u,v`` lines (optionally a third weight column) into a ``Data``.

    Lines starting with ``#`` or ``%`` and blank lines are skipped; files
    ending in ``.gz`` are decompressed. Node ids must be non-negative
    integers; ``num_nodes`` is ``max id + 1``.

    Args:
        path: ``.txt``, ``.csv``, ``.tsv`` (optionally ``.gz``).
        undirected: add the reverse of every edge
            (:func:`~torch_geometric.utils.to_undirected`).

    Raises:
        ValueError: a line that is not two or three numbers, or a negative id.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line[0] in "#%":
                continue
            parts = line.replace(",", " ").replace("\t", " ").split()
            if len(parts) not in (2, 3):
                raise ValueError(f"{path}:{lineno}: expected 'u v' or 'u v w', got {line[:60]!r}.")
            try:
                rows.append([float(p) for p in parts] + ([1.0] if len(parts) == 2 else []))
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not numbers: {line[:60]!r}.") from None
    if not rows:
        raise ValueError(f"{path}: no edges found.")
    arr = np.asarray(rows, dtype=np.float64)
    ids = arr[:, :2]
    if (ids < 0).any() or (ids != np.floor(ids)).any():
        raise ValueError(f"{path}: node ids must be non-negative integers.")
    edge_index = torch.from_numpy(ids.T.astype(np.int64))
    weight = torch.from_numpy(arr[:, 2]).float()
    num_nodes = int(edge_index.max()) + 1
    has_weights = not torch.all(weight == 1)
    if undirected:
        if has_weights:
            edge_index, weight = to_undirected(edge_index, weight, num_nodes=num_nodes, reduce="max")
        else:
            edge_index = to_undirected(edge_index, num_nodes=num_nodes)
    data = Data(edge_index=edge_index, num_nodes=num_nodes)
    if has_weights:
        data.edge_weight = weight
    return data
