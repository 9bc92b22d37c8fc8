"""A cheap fingerprint of a graph: tells a checkpoint's or a fitted model's graph from another one."""
from __future__ import annotations

from typing import Any, Dict

from torch import Tensor

__all__ = ["graph_fingerprint"]


def graph_fingerprint(data) -> Dict[str, Any]:
    """Sizes and checksums of ``edge_index`` (and of ``edge_weight`` and ``x`` when present): JSON-able,
    equal for equal graphs, and different for graphs that differ in size, edges, weights or features
    (short of a crafted collision).

    >>> from pyg_spectral.datasets import cycle_graph, path_graph
    >>> graph_fingerprint(cycle_graph(5)) == graph_fingerprint(path_graph(5))
    False
    """
    ei = data.edge_index.long()
    graph = {"num_nodes": int(data.num_nodes), "num_edges": int(ei.size(1)),
             "edge_checksum": [int(ei[0].sum()), int(ei[1].sum()),
                               int((ei[0] * 7 + ei[1] * 3).remainder(1_000_003).sum())]}
    ew = getattr(data, "edge_weight", None)
    if ew is not None:
        graph["edge_weight_sum"] = float(ew.double().sum())
    x = getattr(data, "x", None)
    if isinstance(x, Tensor):
        graph["x"] = [list(x.shape), float(x.double().sum())]
    return graph
