"""Graph input for the CLI: one loader for every format, every failure one :class:`CLIError` line.

Formats (by suffix, in any case): edge lists ``.txt``/``.csv``/``.tsv``/``.edges`` (optionally
``.gz``) read as listed, i.e. directed (:func:`~pyg_spectral.datasets.read_edge_list` with
``undirected=False``: the estimator refuses an asymmetric list unless ``--symmetrize``); a saved PyG
``Data`` (``.pt``/``.pth``, read with ``weights_only=True``, memory-mapped); ``.npz`` arrays. Parallel
edges are summed in every format.
"""
from __future__ import annotations

from pathlib import Path

from torch_geometric.data import Data

from ..datasets.io import read_edge_list, read_npz, read_torch_data
from .common import CLIError

__all__ = ["load_graph", "largest_component", "EDGE_LIST_SUFFIXES"]

EDGE_LIST_SUFFIXES = (".txt", ".csv", ".tsv", ".edges")


def load_graph(path: Path) -> Data:
    """Read ``path`` into a ``Data``; raise :class:`CLIError` with one line naming the file on failure."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"input file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith((".pt", ".pth")):
            return read_torch_data(path, mmap=True)
        if name.endswith(".npz"):
            return read_npz(path)
        base = name[:-3] if name.endswith(".gz") else name
        if base.endswith(EDGE_LIST_SUFFIXES) or name.endswith(".gz"):
            return read_edge_list(path, undirected=False)
    except ValueError as exc:
        raise CLIError(str(exc).splitlines()[0]) from None
    except Exception as exc:  # corrupt or unreadable file (bad gzip, bad zip ...): one line, no traceback
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise CLIError(f"cannot read {path}: {exc.__class__.__name__}: {first}") from None
    raise CLIError(f"{path}: unknown input format (use .txt/.csv/.tsv/.edges[.gz], .pt or .npz)")


def largest_component(data: Data) -> Data:
    """The subgraph on the largest (weakly) connected component, node attributes kept."""
    from torch_geometric.transforms import LargestConnectedComponents

    return LargestConnectedComponents()(data)
