"""pyg_spectral: neural spectral methods for PyTorch Geometric.

Learn the leading eigenvectors of graph operators with neural networks and
nested variational losses (NestedLoRA / NeuralSVD, NestedOMM), with no
eigen-solver in the loop.
"""
from .estimator import ConvergenceWarning, NeuralSpectralEmbedding
from ._validation import GraphInputError
from .exact import exact_eigenpairs

__version__ = "0.1.0"

__all__ = ["NeuralSpectralEmbedding", "ConvergenceWarning", "GraphInputError", "exact_eigenpairs", "__version__"]
