"""Encoders that parameterise the eigenfunctions; every one outputs ``[n, m]``."""
from .embedding import EmbeddingEncoder
from .gnn import GNN_MODELS, GNNEncoder, random_node_features
from .mlp import MLPEncoder

__all__ = ["EmbeddingEncoder", "MLPEncoder", "GNNEncoder", "GNN_MODELS", "random_node_features"]
