"""How an encoder is evaluated on a batch of nodes: what its inputs are.

An encoder declares ``inputs``:

* ``"nodes"``: called as ``encoder(n_id=ids)`` (a free table: one row per node);
* ``"features"``: called on the feature rows ``encoder(x[ids])`` (no message passing: MLPs);
* ``"graph"`` (the default of any other ``nn.Module``): called as ``encoder(x, edge_index)`` on the whole
  graph, or on a neighbor-sampled subgraph around a batch. ``takes_node_ids = True`` adds the keywords
  ``n_id`` (the subgraph's global node ids) and ``num_nodes``.

>>> from torch import nn
>>> from pyg_spectral.encoders import MLPEncoder
>>> encoder_inputs(nn.Linear(3, 2)), encoder_inputs(MLPEncoder(3, 2))
('graph', 'features')
"""
from __future__ import annotations

from torch import nn

__all__ = ["encoder_inputs", "INPUT_KINDS"]

INPUT_KINDS = ("nodes", "features", "graph")


def encoder_inputs(encoder: nn.Module) -> str:
    """The ``inputs`` of ``encoder`` (looked up through DDP and EMA wrappers, which keep it in ``.module``)."""
    kind = getattr(getattr(encoder, "module", encoder), "inputs", "graph")
    if kind not in INPUT_KINDS:
        raise ValueError(f"{encoder.__class__.__name__}.inputs must be one of {INPUT_KINDS}, got {kind!r}.")
    return kind
