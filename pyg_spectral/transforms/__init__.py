"""PyG transforms built on the neural spectral estimator."""
from .neural_pe import AddNeuralEigenvectorPE, precompute_pe

__all__ = ["AddNeuralEigenvectorPE", "precompute_pe"]
