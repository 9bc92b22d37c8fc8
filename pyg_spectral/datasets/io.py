r"""Reading graphs from files: edge lists, ``.npz`` arrays and saved PyG ``Data``.

One rule for repeated edges in every format: **parallel edges are summed**. A pair ``(u, v)`` listed
twice (or, for an undirected edge list, once as ``u v`` and once as ``v u``) is one edge of weight
:math:`w_1 + w_2`, as the operators of :mod:`pyg_spectral.operators` and
:func:`~pyg_spectral.exact_eigenpairs` already treat repeated columns of ``edge_index``.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "g.txt")
>>> _ = open(path, "w").write("# a triangle, one edge twice\n0 1\n1 2\n2 0\n0 1\n")
>>> g = read_edge_list(path)
>>> g.num_nodes, g.edge_index.size(1), g.edge_weight.tolist()
(3, 6, [2.0, 1.0, 2.0, 1.0, 1.0, 1.0])
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Union

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce

from ..utils.io import safe_torch_load

__all__ = ["read_edge_list", "read_npz", "read_torch_data", "MAX_NODE_ID"]

#: the largest node id a file may use: ``num_nodes = max id + 1`` must still be an ``int64``
MAX_NODE_ID = 2 ** 63 - 2
_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path: Path) -> bool:
    if path.name.lower().endswith(".gz"):
        return True
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _node_id(text: str, path: Path, lineno: int, line: str) -> int:
    # int() alone would accept "+3", "1_0" and (through float) "1e1" / "2.0": ids are plain digits only
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{path}:{lineno}: node ids must be non-negative integers written as digits, "
                         f"got {text!r} in {line[:60]!r}.")
    value = int(text)
    if value > MAX_NODE_ID:
        raise ValueError(f"{path}:{lineno}: node id {text[:30]} is too large (the largest usable id is "
                         f"2^63 - 2 = {MAX_NODE_ID}); renumber the nodes 0 .. n-1.")
    return value


def _sum_parallel(edge_index: torch.Tensor, weight: torch.Tensor, num_nodes: int,
                  weighted: bool) -> Data:
    edge_index, weight = coalesce(edge_index, weight, num_nodes=num_nodes, reduce="sum")
    data = Data(edge_index=edge_index, num_nodes=num_nodes)
    if weighted or not bool(torch.all(weight == 1)):
        data.edge_weight = weight
    return data


def read_edge_list(path: Union[str, Path], undirected: bool = True) -> Data:
    """Read ``u v`` or ``u,v`` lines (optionally a third weight column) into a ``Data``.

    Lines starting with ``#`` or ``%`` and blank lines are skipped; gzip files (a ``.gz`` suffix in
    any case, or gzip content) are decompressed. Node ids are non-negative integers written as digits
    (``1e1`` or ``2.0`` are refused); ``num_nodes`` is ``max id + 1``. Parallel edges are summed, and
    ``edge_weight`` is set when a weight column is present or a pair repeats.

    Args:
        path: ``.txt``, ``.csv``, ``.tsv``, ``.edges`` (optionally gzipped).
        undirected: every line is an undirected edge :math:`\\{u, v\\}`: the adjacency is
            :math:`A + A^\\top` of the listed edges (self-loops counted once). With ``False`` the edges
            are returned as listed (directed); the estimators then refuse an asymmetric graph unless
            asked to symmetrize it.

    Raises:
        ValueError: a line that is not two or three numbers, a node id that is negative, not an
            integer or beyond int64, or a file with no edges.
    """
    path = Path(path)
    opener = gzip.open if _is_gzip(path) else open
    src, dst, weights = [], [], []
    weighted = False
    with opener(path, "rt") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line[0] in "#%":
                continue
            parts = line.replace(",", " ").replace("\t", " ").split()
            if len(parts) not in (2, 3):
                raise ValueError(f"{path}:{lineno}: expected 'u v' or 'u v w', got {line[:60]!r}.")
            try:
                [float(p) for p in parts]
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not numbers: {line[:60]!r}.") from None
            src.append(_node_id(parts[0], path, lineno, line))
            dst.append(_node_id(parts[1], path, lineno, line))
            if len(parts) == 3:
                weighted = True
                weights.append(float(parts[2]))
            else:
                weights.append(1.0)
    if not src:
        raise ValueError(f"{path}: no edges found.")
    edge_index = torch.tensor([src, dst], dtype=torch.long)
    weight = torch.tensor(weights, dtype=torch.float32)
    num_nodes = int(edge_index.max()) + 1
    if undirected:
        off = edge_index[0] != edge_index[1]
        edge_index = torch.cat([edge_index, edge_index[:, off].flip(0)], dim=1)
        weight = torch.cat([weight, weight[off]])
    return _sum_parallel(edge_index, weight, num_nodes, weighted)


def read_npz(path: Union[str, Path]) -> Data:
    """Read a ``.npz`` holding ``edge_index`` (integer ``[2, E]``) and optionally ``edge_weight``
    (``[E]``) and ``num_nodes``; nothing is unpickled (``allow_pickle=False``).

    Repeated columns stay in ``edge_index`` (the operators sum them). Integer arrays only: a float
    ``edge_index`` would be silently truncated by a cast, so it is refused.

    Raises:
        ValueError: a missing or malformed array, a negative or too large node id, or ``num_nodes``
            not above the largest id.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        if "edge_index" not in npz:
            raise ValueError(f"{path}: the .npz has no 'edge_index' array (found {sorted(npz.files)}).")
        ei = np.asarray(npz["edge_index"])
        if ei.dtype.kind not in "iu":
            raise ValueError(f"{path}: edge_index has dtype {ei.dtype}; node ids must be an integer array "
                             "(cast it yourself if its values are whole numbers).")
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise ValueError(f"{path}: edge_index must have shape [2, E], got {list(ei.shape)}.")
        if ei.size and (ei.min() < 0 or int(ei.max()) > MAX_NODE_ID):
            raise ValueError(f"{path}: node ids must lie in [0, 2^63 - 2], found [{ei.min()}, {ei.max()}].")
        data = Data(edge_index=torch.from_numpy(ei.astype(np.int64)))
        if "edge_weight" in npz:
            w = np.asarray(npz["edge_weight"])
            if w.dtype.kind not in "iuf" or w.shape != (ei.shape[1],):
                raise ValueError(f"{path}: edge_weight must be a numeric array of shape [{ei.shape[1]}], got "
                                 f"{w.dtype} {list(w.shape)}.")
            data.edge_weight = torch.from_numpy(w.astype(np.float32))
        needed = int(ei.max()) + 1 if ei.size else 0
        if "num_nodes" in npz:
            n = np.asarray(npz["num_nodes"])
            if n.shape != () or n.dtype.kind not in "iu" or int(n) < needed:
                raise ValueError(f"{path}: num_nodes must be one integer >= {needed} (the largest id + 1), "
                                 f"got {n.tolist()!r}.")
            data.num_nodes = int(n)
        else:
            data.num_nodes = needed
    return data


def read_torch_data(path: Union[str, Path], mmap: bool = True) -> Data:
    """Read a PyG ``Data`` saved with ``torch.save``, safely (:func:`~pyg_spectral.utils.io.safe_torch_load`:
    ``weights_only=True``, only PyG's storage classes allowed; a crafted file is refused before any of
    its code runs). Memory-mapped by default, so the processes of one machine share its pages.

    Raises:
        ValueError: the file is not a ``Data`` with an ``edge_index``, names other Python objects, or is
            truncated.
    """
    obj = safe_torch_load(path, mmap=mmap)
    if not isinstance(obj, Data) or getattr(obj, "edge_index", None) is None:
        raise ValueError(f"{path}: expected a torch_geometric.data.Data with edge_index, got {type(obj).__name__}.")
    return obj
