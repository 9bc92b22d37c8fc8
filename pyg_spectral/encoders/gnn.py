"""PyG message-passing GNN with fixed random node features."""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import GCN, GIN, GraphSAGE

from .noise import hashed_normal
from .skip import append_kept_start, ritz_start_network_

__all__ = ["GNNEncoder", "random_node_features", "GNN_MODELS"]

GNN_MODELS = {"gcn": GCN, "gin": GIN, "sage": GraphSAGE, "graphsage": GraphSAGE}


def random_node_features(num_nodes: int, dim: int, seed: int, device=None, dtype=torch.float32) -> Tensor:
    """Seeded standard-normal features, the same for the same ``(num_nodes, dim, seed)``.

    Row ``i`` depends on ``num_nodes``'s stream position, not on a node id; :class:`GNNEncoder` uses
    :func:`~pyg_spectral.encoders.noise.hashed_normal` instead."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(int(num_nodes), int(dim), generator=gen).to(device=device, dtype=dtype)


class _IdentityCache:
    """The last ``size`` values built from given tensors, found again only for the very same tensor objects,
    unmodified since (same ``_version``), and the same ``extra`` key: full-batch training passes the same
    inputs at every step."""

    def __init__(self, size: int = 2):
        self.size, self.entries = int(size), []  # type: List[Tuple[tuple, tuple, object]]

    def get(self, tensors: Tuple[Optional[Tensor], ...], extra: tuple, build: Callable[[], object]):
        versions = tuple(None if t is None else t._version for t in tensors) + tuple(extra)
        for i, (held, key, value) in enumerate(self.entries):
            if key == versions and all(a is b for a, b in zip(held, tensors)):
                self.entries.insert(0, self.entries.pop(i))
                return value
        value = build()
        self.entries = [(tensors, versions, value)] + self.entries[: self.size - 1]
        return value


class GNNEncoder(nn.Module):
    r"""A PyG GNN (GCN, GIN or GraphSAGE from :mod:`torch_geometric.nn.models`)
    fed node features concatenated with fixed, seeded random node features.

    Why random features: message passing computes the same output on nodes
    that the graph cannot tell apart (automorphic nodes, or all nodes when
    the input is constant), and it cannot choose a sign. Eigenvectors do tell
    such nodes apart, so a GNN on features alone cannot represent them.
    Fixed random features make every node distinguishable (Sato et al.,
    SDM 2021; Abboud et al., IJCAI 2021); PEARL (Kanatsoulis et al., ICLR 2025)
    shows GNNs on random inputs act as nonlinear functions of eigenvectors.

    The random features of node ``v`` are :func:`~pyg_spectral.encoders.noise.hashed_normal` of its
    global id (``n_id[i]`` on a sampled subgraph, else its row ``i``) and ``seed``: they do not depend on
    the number of nodes or on which other nodes are present, so a fitted encoder is deterministic and a
    node keeps its inputs when the graph grows. Without node features (``in_channels=0``) a structural
    column :math:`\log(1 + \deg v)` is added (``degree_feature``); the degree is read from the
    ``edge_index`` the encoder is given (on a sampled subgraph, the sampled degree).

    Full-batch training calls the encoder on the same graph at every step, so what depends only on the graph
    is built once and found again while the same tensors come back unmodified: the input matrix
    ``[x, noise, log-degree]`` and GCN's normalised adjacency :math:`\tilde D^{-1/2}(A + I)\tilde D^{-1/2}` (PyG's ``gcn_norm``, which
    ``GCNConv`` would otherwise recompute in every layer of every step). Same values as PyG's GCN.

    Args:
        in_channels: node feature dimension (0 if the graph has no features).
        out_channels: number of functions :math:`m`.
        gnn: ``"gcn"``, ``"gin"`` or ``"sage"``.
        hidden_channels: hidden width.
        num_layers: message-passing layers (an ``L``-layer GNN sees
            ``L``-hop neighbourhoods).
        random_features: number of random input channels.
        seed: seed of the random features.
        degree_feature: add the log-degree column (default: when ``in_channels == 0``).
        skip: add a linear map of the node features to the output, :math:`f = \mathrm{GNN}(\cdot) + W x`,
            which :meth:`ritz_initialize_` can start at the Rayleigh–Ritz solution on the features' span (with
            propagated inputs, :class:`~pyg_spectral.encoders.PropagatedInputs`, that span holds the graph's
            smooth eigenvectors and the GNN learns a correction). Needs ``in_channels > 0``.
        **kwargs: passed to the PyG model.

    Example:
        >>> from pyg_spectral.datasets import cycle_graph
        >>> data = cycle_graph(10)
        >>> enc = GNNEncoder(0, 8, gnn="gcn")        # no features: random ones only
        >>> enc(None, data.edge_index, num_nodes=10).shape
        torch.Size([10, 8])
    """

    inputs = "graph"
    takes_node_ids = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        gnn: str = "gcn",
        hidden_channels: int = 128,
        num_layers: int = 2,
        random_features: int = 32,
        seed: int = 0,
        degree_feature: Optional[bool] = None,
        skip: bool = False,
        **kwargs,
    ):
        super().__init__()
        if gnn not in GNN_MODELS:
            raise ValueError(f"Unknown gnn {gnn!r}; choose one of {sorted(GNN_MODELS)}.")
        if in_channels + random_features <= 0:
            raise ValueError("GNNEncoder needs node features or random_features > 0.")
        if skip and in_channels <= 0:
            raise ValueError("GNNEncoder(skip=True) is a linear map of the node features: it needs in_channels > 0.")
        self.in_channels, self.random_features, self.seed = int(in_channels), int(random_features), int(seed)
        self.gnn_name = gnn
        self.degree_feature = self.in_channels == 0 if degree_feature is None else bool(degree_feature)
        # GCN: the encoder normalises (once per graph: _adjacency_cache in forward), the convolutions take the result
        self.gcn_normalize = gnn == "gcn" and bool(kwargs.pop("normalize", True))
        if gnn == "gcn":
            self._gcn_norm_options = dict(improved=bool(kwargs.get("improved", False)),
                                          add_self_loops=bool(kwargs.get("add_self_loops", True)))
            kwargs["normalize"] = False
        self.gnn = GNN_MODELS[gnn](
            in_channels=self.in_channels + self.random_features + int(self.degree_feature), hidden_channels=hidden_channels,
            num_layers=num_layers, out_channels=out_channels, **kwargs,
        )
        self.skip = nn.Linear(self.in_channels, out_channels, bias=False) if skip else None
        # the Ritz start's coefficients kept as frozen extra output columns (ritz_initialize_(keep_start=True))
        self.register_buffer("start", torch.empty(0, self.in_channels))
        self._noise_cache: Dict[Tuple[int, str, torch.dtype], Tensor] = {}
        self._input_cache, self._adjacency_cache = _IdentityCache(), _IdentityCache()

    @property
    def sparse_adjacency(self) -> bool:
        """PyG's GCN, GraphSAGE and GIN take a sparse CSR ``adj_t`` for ``edge_index``
        (:func:`~pyg_spectral.encoders.base.full_batch_layout`)."""
        return self.gnn_name in ("gcn", "sage", "graphsage", "gin")

    @property
    def num_layers(self) -> int:
        return self.gnn.num_layers

    def noise(self, num_nodes: int, device, dtype) -> Tensor:
        """The random features of the nodes ``0 .. num_nodes - 1`` (cached)."""
        key = (int(num_nodes), str(device), dtype)
        if key not in self._noise_cache:
            ids = torch.arange(int(num_nodes), device=device)
            self._noise_cache = {key: hashed_normal(ids, self.random_features, self.seed, dtype)}
        return self._noise_cache[key]

    def forward(self, x: Optional[Tensor], edge_index: Tensor, n_id: Optional[Tensor] = None,
                num_nodes: Optional[int] = None) -> Tensor:
        """Run the GNN on a graph (or a sampled subgraph whose global node ids
        are ``n_id``, out of ``num_nodes``)."""
        n = x.size(0) if x is not None else (n_id.numel() if n_id is not None else num_nodes)
        if n is None:
            raise ValueError("GNNEncoder needs x, n_id or num_nodes to know the number of nodes.")
        if self.in_channels and (x is None or x.size(-1) != self.in_channels):
            raise ValueError(f"GNNEncoder expects {self.in_channels} node features per node.")
        dtype = x.dtype if x is not None else next(self.parameters()).dtype
        build = lambda: self._inputs(x, edge_index, n_id, int(n), dtype)
        if n_id is None and not (x is not None and x.requires_grad):
            inputs = self._input_cache.get((x, edge_index), (int(n), dtype, str(edge_index.device)), build)
        else:
            inputs = build()
        if not self.gcn_normalize:
            out = self.gnn(inputs, edge_index)
        else:
            adjacency, weight = self._adjacency_cache.get(
                (edge_index,), (int(n), dtype), lambda: gcn_norm(edge_index, None, int(n), dtype=dtype,
                                                                 **self._gcn_norm_options))
            out = self.gnn(inputs, adjacency, edge_weight=weight)
        out = out if self.skip is None else out + self.skip(x)
        return append_kept_start(out, x, self.start)

    def output_layers(self) -> List[nn.Module]:
        """The layers whose outputs are the GNN's (their weight rows and biases make output columns): PyG's
        final linear map if the model has one, else the last convolution's linear maps (GCN: ``lin`` and the
        conv's bias; GraphSAGE: ``lin_l``, ``lin_r``; GIN: its MLP's last layer)."""
        if hasattr(self.gnn, "lin"):
            return [self.gnn.lin]
        conv = self.gnn.convs[-1]
        inner = getattr(conv, "nn", None)
        if inner is not None and hasattr(inner, "lins"):  # GIN: an MLP inside
            return [inner.lins[-1]]
        return [conv] + [getattr(conv, name) for name in ("lin", "lin_l", "lin_r") if hasattr(conv, name)]

    @torch.no_grad()
    def ritz_initialize_(self, x: Tensor, op, scaled: bool = False, rcond: float = 1e-7,
                         chunk: Optional[int] = None, keep_start: bool = False,
                         columns: Optional[slice] = None) -> "GNNEncoder":
        r"""Start at the Rayleigh–Ritz solution of ``op`` on the span of the node features ``x``
        (``[n, in_channels]``, every node): the skip's rows become the top Ritz coefficients and the GNN's
        output layers (:meth:`output_layers`) are zeroed on those columns, as
        :meth:`MLPEncoder.ritz_initialize_ <pyg_spectral.encoders.MLPEncoder.ritz_initialize_>` does
        (:func:`~pyg_spectral.encoders.skip.ritz_initialize_skip_`).
        With ``keep_start`` (for a solved head, :class:`~pyg_spectral.encoders.RitzHead`) the start goes to the
        frozen buffer ``start`` instead, whose outputs :math:`x\,c_l` are appended as ``r`` extra columns
        (``[n, out_channels + r]``), the skip is zeroed and the network keeps its random start
        (:func:`~pyg_spectral.encoders.skip.keep_ritz_start_`). ``columns``: the start on those input columns
        only (:func:`~pyg_spectral.encoders.skip.ritz_skip_weight`).

        >>> from pyg_spectral.datasets import cycle_graph
        >>> from pyg_spectral.operators import NormalizedAdjacency
        >>> data = cycle_graph(12)
        >>> op = NormalizedAdjacency.from_edge_index(data.edge_index)
        >>> x = torch.randn(12, 6)
        >>> enc = GNNEncoder(6, 3, gnn="sage", skip=True).ritz_initialize_(x, op)
        >>> bool(torch.allclose(enc(x, data.edge_index), enc.skip(x)))   # the GNN adds nothing at the start
        True
        """
        ritz_start_network_(self, self.output_layers(), x, op, scaled=scaled, rcond=rcond, chunk=chunk,
                            keep_start=keep_start, columns=columns)
        return self

    def _inputs(self, x: Optional[Tensor], edge_index: Tensor, n_id: Optional[Tensor], n: int, dtype) -> Tensor:
        """``[x, noise, log-degree]``."""
        parts = []
        if self.random_features:
            if n_id is None:
                parts.append(self.noise(n, edge_index.device, dtype))
            else:
                parts.append(hashed_normal(n_id, self.random_features, self.seed, dtype).to(edge_index.device))
        if self.degree_feature:
            if edge_index.layout == torch.sparse_csr:  # adj_t: a node's out-edges are its column's entries
                deg = torch.bincount(edge_index.col_indices(), minlength=n).to(dtype)
            else:
                deg = torch.zeros(n, device=edge_index.device, dtype=dtype)
                deg.index_add_(0, edge_index[0], torch.ones(edge_index.size(1), device=deg.device, dtype=dtype))
            parts.append(deg.log1p().unsqueeze(-1))
        return torch.cat(([x] if self.in_channels else []) + parts, dim=-1)

    def extra_repr(self) -> str:
        return (f"random_features={self.random_features}, seed={self.seed}, degree_feature={self.degree_feature}"
                + (", skip=True" if self.skip is not None else ""))
