"""PyG transforms built on the neural spectral estimator."""
from .neural_pe import AddNeuralEigenvectorPE

__all__ = ["AddNeuralEigenvectorPE"]
