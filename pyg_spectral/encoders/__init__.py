"""Encoders that parameterise the eigenfunctions; every one outputs ``[n, m]``."""
from .base import encoder_inputs
from .build import ENCODERS, build_encoder, encoder_kind, full_outputs
from .embedding import EmbeddingEncoder
from .gnn import GNN_MODELS, GNNEncoder, random_node_features
from .krylov import KrylovEncoder
from .mlp import MLPEncoder
from .noise import hashed_normal
from .propagated import PropagatedInputs
from .ritz_head import RitzHead

__all__ = ["EmbeddingEncoder", "MLPEncoder", "GNNEncoder", "KrylovEncoder", "RitzHead", "PropagatedInputs", "GNN_MODELS", "random_node_features",
           "hashed_normal", "ENCODERS",
           "build_encoder", "encoder_kind", "encoder_inputs", "full_outputs"]
