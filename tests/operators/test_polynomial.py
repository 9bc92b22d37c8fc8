import numpy as np
import pytest
import torch

from pyg_spectral.operators import LazyAdjacency, NormalizedAdjacency, NormalizedLaplacian, PolynomialFilter


@pytest.fixture
def lazy(karate):
    return LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)


def dense_filter(op, poly):
    w, V = np.linalg.eigh(op.symmetric_matrix().toarray())
    return V @ np.diag(poly(w)) @ V.T


def test_power_filter_equals_matrix_power(lazy):
    f = PolynomialFilter.power(lazy, 4)
    T = lazy.symmetric_matrix().toarray()
    X = torch.randn(34, 3, dtype=torch.float64)
    assert np.allclose(f.matvec(X).numpy(), np.linalg.matrix_power(T, 4) @ X.numpy(), atol=1e-12)
    assert f.is_psd and f.poly_degree == 4 and f.base is lazy
    assert np.allclose(f.symmetric_matrix().toarray(), np.linalg.matrix_power(T, 4), atol=1e-12)


def test_chebyshev_filter_damps_below_cutoff(lazy):
    f = PolynomialFilter.chebyshev(lazy, 10, cutoff=0.6)
    X = torch.randn(34, 2, dtype=torch.float64)
    assert np.allclose(f.matvec(X).numpy(), dense_filter(lazy, f._poly()) @ X.numpy(), atol=1e-10)
    # The lazy walk is its own user operator, so [0, 0.6] is damped: |p| <= 1 / T_10(7/3) ~ 7e-7.
    assert np.abs(f._poly()(np.linspace(0.0, 0.6, 200))).max() < 1e-6
    assert f._poly()(1.0) == pytest.approx(1.0)
    assert f._poly()(0.95) > 0.1  # the wanted top keeps its weight
    assert not f.is_psd


def test_to_original_inverts_on_top_branch(lazy):
    f = PolynomialFilter.power(lazy, 3)
    lam = torch.tensor([0.99, 0.5, 0.1], dtype=torch.float64)  # eigenvalues of A_norm
    mu = f.from_original(lam)
    assert torch.allclose(f.to_original(mu), lam, atol=1e-10)


def test_laplacian_filter_keeps_ascending_order(karate):
    lap = NormalizedLaplacian.from_edge_index(karate.edge_index, dtype=torch.float64)
    f = PolynomialFilter.power(lap, 2)
    assert not f.descending
    assert float(f.to_original(torch.tensor(1.0, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-9)


def test_power_filter_rejects_non_psd_base(karate):
    with pytest.raises(ValueError, match="PSD"):
        PolynomialFilter.power(NormalizedAdjacency.from_edge_index(karate.edge_index), 2)


def test_bad_arguments(lazy):
    with pytest.raises(ValueError, match="degree"):
        PolynomialFilter.power(lazy, 0)
    with pytest.raises(ValueError, match="cutoff"):
        PolynomialFilter.chebyshev(lazy, 5, cutoff=2.0)
    with pytest.raises(ValueError, match="Nesting"):
        PolynomialFilter(PolynomialFilter.power(lazy, 2), [0, 1])
