r"""OGB node-property-prediction data: real loading (offline-safe), export of any PyG graph to OGB's layout.

* :func:`load_ogb_node_dataset` goes through OGB's own
  :class:`~ogb.nodeproppred.PygNodePropPredDataset`. Without a local copy it
  downloads as OGB does. With a local folder it never prompts: OGB calls
  ``input()`` when the release marker ``RELEASE_v{version}.txt`` is missing
  (which fails without stdin), so that case raises a clear error instead, and
  a folder without raw or processed files raises before OGB tries to download.
* ogb 1.3.6 loads its processed file with a bare ``torch.load``, which fails
  under torch >= 2.6 (``weights_only=True`` by default; snap-stanford/ogb issue
  497). The load runs inside ``torch.serialization.safe_globals`` listing the
  PyG storage classes: a context manager, so the user's process keeps
  torch's default behaviour everywhere else. Before OGB opens them, the
  processed file and a ``split_dict.pt`` are checked with
  :func:`~pyg_spectral.utils.io.safe_torch_load` (memory-mapped: only the object
  structure is read), so a crafted file is refused with a clear error whatever
  torch's default (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) says.
* :func:`export_ogb_node_dataset` writes any PyG ``Data`` with labels and a
  split in OGB's raw layout (``raw/edge.csv.gz`` ..., ``split/<name>/*.csv.gz``,
  release marker) and returns the ``meta_dict`` with which OGB's loader reads
  it back; tests run the whole pipeline on Cora and CiteSeer exported this way.
  Exported under a real OGB name (e.g. ``ogbn-arxiv``), the files follow that
  dataset's own description in OGB's ``master.csv`` (its split name, release
  version and additional node files such as ``node_year``), so
  ``load_ogb_node_dataset("ogbn-arxiv", root=...)`` reads the export without a
  ``meta_dict``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, Optional

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import Data

from ..utils.io import pyg_safe_globals, safe_torch_load

__all__ = ["OGB_NODE_DATASETS", "load_ogb_node_dataset", "export_ogb_node_dataset", "make_evaluator",
           "ogb_safe_load"]

OGB_NODE_DATASETS = ("ogbn-arxiv", "ogbn-products", "ogbn-papers100M", "ogbn-proteins", "ogbn-mag")


def ogb_safe_load():
    """Allow ``torch.load(weights_only=True)`` to read PyG ``Data`` objects, inside this block only
    (:func:`pyg_spectral.utils.io.pyg_safe_globals`, the allow-list every loader of the package uses)."""
    return pyg_safe_globals()


def _master(name: str) -> Dict[str, str]:
    import ogb.nodeproppred

    master = pd.read_csv(osp.join(osp.dirname(ogb.nodeproppred.__file__), "master.csv"), index_col=0,
                         keep_default_na=False)
    if name not in master:
        raise ValueError(f"Unknown OGB node dataset {name!r}; choose one of {sorted(master.keys())}.")
    return dict(master[name])


def make_evaluator(name: str, meta_dict: Optional[Dict[str, str]] = None):
    """``ogb.nodeproppred.Evaluator`` for an OGB name, or for a dataset exported with a ``meta_dict``."""
    from ogb.nodeproppred import Evaluator

    if meta_dict is None:
        return Evaluator(name)
    ev = Evaluator.__new__(Evaluator)  # same scoring code, metric from our meta_dict
    ev.name, ev.num_tasks, ev.eval_metric = name, int(meta_dict["num tasks"]), meta_dict["eval metric"]
    return ev


def load_ogb_node_dataset(name: str, root: str = "dataset", meta_dict: Optional[Dict[str, str]] = None):
    """Load an OGB node dataset offline-safely.

    Returns ``(data, split_idx, evaluator)`` with ``split_idx`` a dict of
    ``train``/``valid``/``test`` index tensors.

    Raises:
        ValueError: unknown dataset name.
        FileNotFoundError: a local folder without the release marker or
            without raw files (instead of OGB's interactive prompt or a
            download attempt).
        ValueError: a processed or split file that names Python objects other
            than tensors and PyG ``Data`` (refused before anything runs), or is
            truncated.
    """
    from ogb.nodeproppred import PygNodePropPredDataset

    if meta_dict is None:
        meta = _master(name)
        folder = osp.join(root, "_".join(name.split("-")))
        if osp.exists(folder + "_pyg"):
            folder = folder + "_pyg"
    else:
        meta, folder = meta_dict, meta_dict["dir_path"]
    if osp.isdir(folder):
        marker = osp.join(folder, f"RELEASE_v{meta['version']}.txt")
        if not osp.exists(marker):
            raise FileNotFoundError(
                f"{folder} exists but has no release marker {osp.basename(marker)}: OGB would ask interactively "
                "whether to re-download. Remove the folder to download again, or add the marker if the files are "
                "from that release."
            )
        processed = osp.join(folder, "processed", "geometric_data_processed.pt")
        raw = osp.join(folder, "raw")
        needed = ["data.npz"] if meta.get("binary") == "True" else ["edge.csv.gz"]
        missing = [f for f in needed if not osp.exists(osp.join(raw, f))]
        if not osp.exists(processed) and missing:
            raise FileNotFoundError(f"{folder} has neither processed data nor the raw files {missing}.")
        for path in (processed, osp.join(folder, "split", meta["split"], "split_dict.pt")):
            if osp.exists(path):
                safe_torch_load(path, mmap=True)  # raises ValueError on a crafted or truncated file
    with ogb_safe_load():
        dataset = PygNodePropPredDataset(name=name, root=root, meta_dict=meta_dict)
        split_idx = dataset.get_idx_split()
    data = dataset[0]
    return data, split_idx, make_evaluator(name, meta_dict)


def _write_csv(path: str, array: np.ndarray) -> None:
    # gzip level 1: several times faster than pandas' default level on large feature files (the cost of
    # exporting a million-node graph), ~10% larger files; OGB's reader reads any level
    pd.DataFrame(array).to_csv(path, header=False, index=False, compression={"method": "gzip", "compresslevel": 1})


def export_ogb_node_dataset(data: Data, root: str, name: str, split_idx: Dict[str, Tensor],
                            num_classes: Optional[int] = None, split_name: str = "public") -> Dict[str, str]:
    """Write ``data`` (``edge_index``, ``x``, ``y``) and a split in OGB's raw layout.

    The graph is written as stored (``add_inverse_edge = False``); labels as one
    column (``-1`` or NaN for unlabeled nodes is kept as is). Returns the
    ``meta_dict`` for :func:`load_ogb_node_dataset` / OGB's loader.

    Under a real OGB name (:data:`OGB_NODE_DATASETS`), the layout is the one OGB
    expects for that name without a ``meta_dict``: the split folder, the release
    marker and the additional node files of ``master.csv`` (``node_year`` for
    ogbn-arxiv: ``data.node_year`` when present, else ``-1``, i.e. unknown, for
    every node).

    Raises:
        ValueError: no labels, split indices outside the graph, or a real OGB name
            whose layout cannot be produced (binary, heterogeneous, inverse edges
            added on load, or node features required but absent).
    """
    if getattr(data, "y", None) is None:
        raise ValueError("export_ogb_node_dataset needs labels in data.y.")
    n = data.num_nodes
    for key in ("train", "valid", "test"):
        idx = torch.as_tensor(split_idx[key])
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(f"split '{key}' has indices outside [0, {n - 1}].")
    extra_node_files: list = []
    version = "1"
    if name in OGB_NODE_DATASETS:
        master = _master(name)
        if master["binary"] == "True" or master["is hetero"] == "True" or master["add_inverse_edge"] == "True":
            raise ValueError(f"{name}'s own layout is binary, heterogeneous or adds inverse edges on load; export "
                             "under another name and load it with the returned meta_dict.")
        if master["has_node_attr"] == "True" and getattr(data, "x", None) is None:
            raise ValueError(f"{name} has node features in OGB's description; data.x is needed to export under it.")
        split_name, version = master["split"], master["version"]
        if master["additional node files"] != "None":
            extra_node_files = master["additional node files"].split(",")
    folder = osp.join(root, "_".join(name.split("-")))
    os.makedirs(osp.join(folder, "raw"), exist_ok=True)
    os.makedirs(osp.join(folder, "split", split_name), exist_ok=True)
    ei = data.edge_index.cpu().numpy().T.astype(np.int64)
    _write_csv(osp.join(folder, "raw", "edge.csv.gz"), ei)
    _write_csv(osp.join(folder, "raw", "num-node-list.csv.gz"), np.array([[n]]))
    _write_csv(osp.join(folder, "raw", "num-edge-list.csv.gz"), np.array([[ei.shape[0]]]))
    has_x = getattr(data, "x", None) is not None
    if has_x:
        _write_csv(osp.join(folder, "raw", "node-feat.csv.gz"), data.x.cpu().float().numpy())
    y = data.y.cpu().view(n, -1).numpy()
    _write_csv(osp.join(folder, "raw", "node-label.csv.gz"), y)
    for extra in extra_node_files:
        values = getattr(data, extra, None)
        values = np.full((n, 1), -1, dtype=np.int64) if values is None else values.cpu().view(n, -1).numpy()
        _write_csv(osp.join(folder, "raw", f"{extra}.csv.gz"), values)
    for key in ("train", "valid", "test"):
        _write_csv(osp.join(folder, "split", split_name, f"{key}.csv.gz"),
                   torch.as_tensor(split_idx[key]).cpu().numpy().reshape(-1, 1))
    if num_classes is None:
        labeled = y[np.isfinite(y) & (y >= 0)] if y.dtype.kind == "f" else y[y >= 0]
        num_classes = int(labeled.max()) + 1
    with open(osp.join(folder, f"RELEASE_v{version}.txt"), "w") as fh:
        fh.write("exported by pyg_spectral\n")
    return {
        "dir_path": folder, "download_name": osp.basename(folder), "version": version, "url": "none",
        "add_inverse_edge": "False", "has_node_attr": str(has_x), "has_edge_attr": "False",
        "split": split_name,
        "additional node files": ",".join(extra_node_files) or "None", "additional edge files": "None",
        "is hetero": "False", "binary": "False", "num tasks": "1", "num classes": str(num_classes),
        "eval metric": "acc", "task type": "multiclass classification",
    }
