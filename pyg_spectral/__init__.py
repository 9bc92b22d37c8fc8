"""pyg_spectral: neural spectral methods for PyTorch Geometric.

Learn the leading eigenvectors of graph operators with neural networks and
nested variational losses (NestedLoRA / NeuralSVD, NestedOMM), with no
eigen-solver in the loop.
"""
from .estimator import NeuralSpectralEmbedding
from .exceptions import ConvergenceWarning
from .exceptions import GraphInputError
from .exact import exact_eigenpairs
from .version import __version__


__all__ = ["NeuralSpectralEmbedding", "ConvergenceWarning", "GraphInputError", "exact_eigenpairs", "__version__"]
