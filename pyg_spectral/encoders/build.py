"""Encoders by name, and their outputs at every node."""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import torch
from torch import Tensor, nn

from ..exceptions import GraphInputError
from .base import encoder_inputs
from .embedding import EmbeddingEncoder
from .gnn import GNN_MODELS, GNNEncoder
from .krylov import KrylovEncoder
from .mlp import MLPEncoder
from .ritz_head import RitzHead

__all__ = ["ENCODERS", "encoder_kind", "build_encoder", "full_outputs", "graph_size_kwargs"]

ENCODERS = ("embedding", "mlp", "gnn", "krylov") + tuple(GNN_MODELS)

#: id-keyed noise channels of a GNN on a graph without features (with features: GNNEncoder's 32). Measured on
#: ego-Facebook, full batch, k = 16, defaults, 32 -> 128 channels (subspace distance): GIN 2.6e-3 -> 6.9e-4,
#: GCN 2.5e-2 -> 1.4e-3, SAGE 0.11 -> 3.1e-2; PubMed's LCC, GIN 0.45 -> 0.30.
FEATURELESS_RANDOM_FEATURES = 128


def encoder_kind(encoder: Union[str, nn.Module]) -> str:
    """``"embedding"``, ``"mlp"``, ``"krylov"``, ``"gnn"`` (any GNN name) or ``"module"`` (a user's ``nn.Module``)."""
    if isinstance(encoder, nn.Module):
        return "module"
    return "gnn" if encoder in GNN_MODELS or encoder == "gnn" else encoder


def build_encoder(encoder: Union[str, nn.Module], out_channels: int, *, num_nodes: int,
                  x: Optional[Tensor] = None, measure: Optional[Tensor] = None, seed: int = 0,
                  encoder_kwargs: Optional[Dict[str, Any]] = None, device=None, head: str = "linear") -> nn.Module:
    """The encoder ``encoder`` names (see :data:`ENCODERS`), or the user's module itself, on ``device``.

    Networks are initialised from ``torch.manual_seed(seed)``; GNNs get ``seed`` for their random node
    features too. ``"mlp"`` needs features ``x``. ``"krylov"`` has no parameters (its head is solved by
    the estimator, see :class:`~pyg_spectral.encoders.krylov.KrylovEncoder`). ``head="ritz"`` makes a network
    (``"mlp"`` or a GNN) a :class:`~pyg_spectral.encoders.RitzHead`: its trunk outputs ``head_width``
    (``encoder_kwargs``; default ``max(4 out_channels, 64)``) columns, batch-normalised hidden layers (``norm``;
    Cora, MLP, k = 16, head_width 128, 400 steps: subspace distance 2.3e-3 with, 5.3e-2 without) and its last
    layer is solved. A GNN on a graph without features gets :data:`FEATURELESS_RANDOM_FEATURES` id-keyed
    noise channels (and its log-degree) unless ``encoder_kwargs`` says ``random_features``.

    >>> build_encoder("embedding", 4, num_nodes=10)
    EmbeddingEncoder(num_nodes=10, out_channels=4)
    """
    kwargs = dict(encoder_kwargs or {})
    kind = encoder_kind(encoder)
    if kind == "module":
        return encoder.to(device)
    if kind == "embedding":
        return EmbeddingEncoder(num_nodes, out_channels, measure=None if measure is None else
                                measure.detach().cpu().float(), seed=seed, **kwargs).to(device)
    if kind == "krylov":
        return KrylovEncoder(x.size(-1) if x is not None else 0, out_channels, seed=seed, **kwargs).to(device)
    if head not in ("linear", "ritz"):
        raise ValueError(f"head must be 'linear' or 'ritz', got {head!r}.")
    width = int(kwargs.pop("head_width", max(4 * out_channels, 64))) if head == "ritz" else out_channels
    if width < out_channels:
        raise ValueError(f"head_width={width} is below the {out_channels} functions the head must combine.")
    if head == "ritz":  # standardised hidden features keep the trunk's basis well conditioned for the solve
        kwargs.setdefault("norm", "batch_norm")
    torch.manual_seed(seed)
    if kind == "mlp":
        if x is None:
            raise GraphInputError("encoder='mlp' needs node features, but data.x is None; "
                                  "encoder_kwargs={'inputs': 'propagated'} gives it structural inputs.")
        net = MLPEncoder(x.size(-1), width, **kwargs)
    else:
        gnn = encoder if encoder in GNN_MODELS else kwargs.pop("gnn", "gcn")
        kwargs.setdefault("seed", seed)
        if x is None:  # noise is all the network sees: more channels span more of the operator's top modes
            kwargs.setdefault("random_features", FEATURELESS_RANDOM_FEATURES)
        net = GNNEncoder(x.size(-1) if x is not None else 0, width, gnn=gnn, **kwargs)
    return (RitzHead(net, out_channels, width) if head == "ritz" else net).to(device)


def graph_size_kwargs(encoder: nn.Module, x: Optional[Tensor], num_nodes: Optional[int]) -> Dict[str, int]:
    """``{"num_nodes": n}`` where a featureless graph must tell an id-keyed encoder (a GNN) its size, else ``{}``."""
    module = getattr(encoder, "module", encoder)  # an averaged copy
    if x is None and num_nodes is not None and getattr(module, "takes_node_ids", False):
        return {"num_nodes": int(num_nodes)}
    return {}


def full_outputs(encoder: nn.Module, x: Optional[Tensor], edge_index: Optional[Tensor],
                 chunk: Optional[int] = None, num_nodes: Optional[int] = None) -> Tensor:
    """The encoder's ``[n, m]`` outputs at every node.

    With ``chunk``, encoders on feature rows (MLPs) run over row chunks, filled into one output in place
    (no list of chunks plus a copy); message-passing encoders run one full-graph forward pass (activations
    ``n x hidden`` per layer, as PyG's layer-wise inference), told ``num_nodes`` when there are no features.
    """
    if chunk is not None and x is not None and encoder_inputs(encoder) == "features":
        out = None
        for start in range(0, x.size(0), chunk):
            part = encoder(x[start:start + chunk])
            if out is None:
                out = part.new_empty(x.size(0), part.size(1))
            out[start:start + part.size(0)] = part
        return out
    return encoder(x, edge_index, **graph_size_kwargs(encoder, x, num_nodes))
