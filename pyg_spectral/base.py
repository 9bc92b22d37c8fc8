"""What the estimators share: scikit-learn's parameter and fitted-state conventions, without depending on it.

* ``get_params`` / ``set_params`` read the parameters off ``__init__``'s signature;
* the ``repr`` shows the parameters that differ from their defaults;
* a fitted attribute (a public name ending in ``_``) read before :meth:`fit` raises
  :class:`~pyg_spectral.exceptions.NotFittedError` (a ``ValueError`` and an ``AttributeError``, so ``hasattr``
  says ``False``), and scikit-learn's ``check_is_fitted`` works when scikit-learn is installed.

>>> from pyg_spectral import NeuralSpectralEmbedding
>>> model = NeuralSpectralEmbedding(4, tol=1e-3)
>>> model
NeuralSpectralEmbedding(4, tol=0.001)
>>> hasattr(model, "eigenvalues_")
False
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, List

from .exceptions import NotFittedError

__all__ = ["SpectralEstimator"]


class SpectralEstimator:
    """Base of the estimators. Subclasses set :attr:`_fitted_attribute` (present once fitted)."""

    _fitted_attribute = "embedding_"

    @classmethod
    def _param_names(cls) -> List[str]:
        return [name for name, p in inspect.signature(cls.__init__).parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any):
        """Set constructor parameters (scikit-learn convention)."""
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"Unknown parameter {name!r} of {type(self).__name__}.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        signature = inspect.signature(type(self).__init__).parameters
        names = self._param_names()
        shown = [repr(getattr(self, names[0]))]
        for name in names[1:]:
            default, value = signature[name].default, getattr(self, name)
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -------------------------------------------------------- fitted state
    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: a missing fitted attribute means "not fitted yet".
        if name.endswith("_") and not name.startswith("_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet (no attribute {name!r}); "
                                 "call fit(data) first.")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _check_fitted(self) -> None:
        if self._fitted_attribute not in vars(self):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(data) first.")

    def __sklearn_is_fitted__(self) -> bool:
        return self._fitted_attribute in vars(self)

    def __sklearn_tags__(self):
        # Called by scikit-learn only (e.g. check_is_fitted), so scikit-learn is importable here.
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags())


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. tensors or modules without a boolean comparison
        return a is b
