"""Estimator conventions: parameters, repr, not-fitted errors, scikit-learn's check_is_fitted."""
from __future__ import annotations

import pytest

from pyg_spectral import NeuralSpectralEmbedding
from pyg_spectral.datasets import cycle_graph
from pyg_spectral.exceptions import NotFittedError
from pyg_spectral.svd import NeuralSpectralSVD


@pytest.mark.parametrize("cls", [NeuralSpectralEmbedding, NeuralSpectralSVD])
def test_not_fitted_is_value_and_attribute_error(cls):
    model = cls(2)
    for call in (lambda: model.eigenvalues_, lambda: model.residuals_):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert not hasattr(model, "embedding_")


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        NeuralSpectralEmbedding(2).transform()


def test_get_set_params_round_trip():
    model = NeuralSpectralEmbedding(3, tol=1e-3)
    params = model.get_params()
    assert params["num_components"] == 3 and params["tol"] == 1e-3 and "distributed" in params
    assert NeuralSpectralEmbedding(**params).get_params() == params
    with pytest.raises(ValueError, match="Unknown parameter"):
        model.set_params(bogus=1)


def test_sklearn_check_is_fitted():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.utils.validation import check_is_fitted

    model = NeuralSpectralEmbedding(2, progress=False)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(model)
    model.fit(cycle_graph(12))
    check_is_fitted(model)
