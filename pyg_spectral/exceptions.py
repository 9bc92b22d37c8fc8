"""Every public error and warning of pyg_spectral, in one place.

>>> from pyg_spectral.exceptions import GraphInputError, NotFittedError
>>> issubclass(GraphInputError, ValueError), issubclass(NotFittedError, AttributeError)
(True, True)
"""
from __future__ import annotations

__all__ = ["GraphInputError", "ConvergenceWarning", "DivergenceError", "CheckpointError",
           "DistributedSettingsError", "NotFittedError"]


class GraphInputError(ValueError):
    """Raised when a graph, its weights or its features cannot be used."""


class ConvergenceWarning(UserWarning):
    """Training stopped at ``max_steps`` before the residual reached ``tol``."""


class DivergenceError(FloatingPointError):
    """The loss (or the learned functions) became NaN or infinite."""


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (corrupt, another format, other settings)."""


class DistributedSettingsError(ValueError):
    """Ranks were started with different settings or different graphs."""


class NotFittedError(ValueError, AttributeError):
    """An estimator or transform was used before ``fit`` (scikit-learn's convention: both a
    ``ValueError`` and an ``AttributeError``)."""
