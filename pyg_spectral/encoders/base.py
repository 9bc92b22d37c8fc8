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

from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.utils import contains_self_loops

from ..utils.sparse import quiet_csr, to_csr

__all__ = ["encoder_inputs", "INPUT_KINDS", "full_batch_layout", "SPARSE_FEATURES_MAX_DENSITY"]

INPUT_KINDS = ("nodes", "features", "graph")


def encoder_inputs(encoder: nn.Module) -> str:
    """The ``inputs`` of ``encoder`` (looked up through DDP and EMA wrappers, which keep it in ``.module``)."""
    kind = getattr(getattr(encoder, "module", encoder), "inputs", "graph")
    if kind not in INPUT_KINDS:
        raise ValueError(f"{encoder.__class__.__name__}.inputs must be one of {INPUT_KINDS}, got {kind!r}.")
    return kind


#: densest feature matrix laid out sparse for a first linear layer (Cora's bag of words: 1.3% non-zero)
SPARSE_FEATURES_MAX_DENSITY = 0.1


def full_batch_layout(encoder: nn.Module, x: Optional[Tensor], edge_index: Optional[Tensor],
                      num_nodes: int) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    r"""``(x, edge_index)`` laid out for the many steps of full-batch training, where they never change.

    An encoder that declares ``sparse_features = True`` (its first operation is a linear layer, which
    accepts a sparse CSR matrix) gets mostly-zero features (at most :data:`SPARSE_FEATURES_MAX_DENSITY`
    non-zero, e.g. bag-of-words) as a CSR matrix; one that declares ``sparse_adjacency = True`` (PyG's message
    passing, which takes a sparse ``adj_t`` for ``edge_index``) gets the transposed adjacency as a CSR
    matrix, so that aggregation is one sparse-dense product instead of a gather of one row per edge. The
    values are the same; only the summation order changes. On Cora's LCC a 150-step fit is 1.57x (MLP) and
    1.63x (GraphSAGE) faster at the best thread count (``benchmarks/results/full_batch_layout.md``).
    Anything else (a graph with repeated edges, where a CSR matrix would merge them, or with self-loops,
    which PyG's GCN normalises differently given ``adj_t``; a dense ``x``; other encoders) is returned as it is.

    >>> import torch
    >>> from pyg_spectral.encoders import MLPEncoder
    >>> x = torch.eye(50)
    >>> layout_x, _ = full_batch_layout(MLPEncoder(50, 4), x, None, 50)
    >>> layout_x.layout, bool(torch.equal(layout_x.to_dense(), x))
    (torch.sparse_csr, True)
    """
    inner = getattr(encoder, "module", encoder)
    inner = getattr(inner, "trunk", inner)  # a RitzHead's trunk takes the inputs
    if (getattr(inner, "sparse_features", False) and x is not None and x.dim() == 2 and x.layout == torch.strided
            and x.is_floating_point() and x.numel() > 0
            and int(torch.count_nonzero(x)) <= SPARSE_FEATURES_MAX_DENSITY * x.numel()):
        with quiet_csr():
            x = x.to_sparse_csr()
    if (getattr(inner, "sparse_adjacency", False) and edge_index is not None and edge_index.dim() == 2
            and edge_index.size(1) > 0 and not contains_self_loops(edge_index)):
        ones = torch.ones(edge_index.size(1), dtype=next(inner.parameters()).dtype, device=edge_index.device)
        adj_t = to_csr(edge_index.flip(0), ones, int(num_nodes))  # row i: the edges into node i
        if adj_t._nnz() == edge_index.size(1):  # no repeated edge merged away
            edge_index = adj_t
    return x, edge_index
