import numpy as np
import pytest
import torch

from pyg_spectral.operators import LazyAdjacency
from pyg_spectral.spectrum import column_factors, fix_signs, normalize_columns, rayleigh_ritz, ritz_residuals


@pytest.fixture(scope="module")
def op(karate):
    return LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)


def top(op, k):
    lam, U = np.linalg.eigh(op.symmetric_matrix().toarray())
    return torch.from_numpy(lam[::-1][:k].copy()), torch.from_numpy(U[:, ::-1][:, :k].copy())


def test_rayleigh_ritz_recovers_eigenpairs_from_a_mixed_basis(op):
    lam, U = top(op, 5)
    mix = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = (U @ mix) * 7.0  # any basis of the eigenspace, any scale
    theta, C = rayleigh_ritz(f, op.matvec(f), op.measure)
    assert torch.allclose(theta, lam, atol=1e-12)
    u = normalize_columns(f @ C)
    assert torch.allclose((u * U).sum(0).abs(), torch.ones(5, dtype=torch.float64), atol=1e-10)
    M = (op.measure[:, None] * (f @ C)).T @ (f @ C)
    assert torch.allclose(M, torch.eye(5, dtype=torch.float64), atol=1e-10)  # rho-orthonormal
    assert ritz_residuals(f, op.matvec(f), theta, C).max() < 1e-12


def test_rayleigh_ritz_drops_collapsed_directions(op):
    _, U = top(op, 3)
    f = torch.cat([U, U[:, :1] * 2.0, torch.zeros(34, 1, dtype=torch.float64)], dim=1)  # rank 3 out of 5
    theta, C = rayleigh_ritz(f, op.matvec(f), op.measure)
    assert theta.numel() == 3 and C.shape == (5, 3)


def test_residuals_are_positive_off_eigenspace(op):
    f = torch.randn(34, 3, dtype=torch.float64)
    theta, C = rayleigh_ritz(f, op.matvec(f), op.measure)
    assert ritz_residuals(f, op.matvec(f), theta, C).min() > 1e-3


def test_sign_rule():
    u = torch.tensor([[0.1, -3.0], [-2.0, 1.0]])
    fixed = fix_signs(u)
    assert torch.equal(fixed, torch.tensor([[-0.1, 3.0], [2.0, -1.0]]))
    assert torch.allclose(u * column_factors(u), normalize_columns(fixed))
