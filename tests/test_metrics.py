import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pyg_spectral.metrics import (eigenvalue_error, gap_cutoff, mode_cosines, orthogonality_error, principal_angles,
                                  residual_norms, subspace_distance)


@pytest.fixture
def basis():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((40, 6)))
    return q


def test_subspace_distance(basis):
    rot, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    assert subspace_distance(basis[:, :3] @ rot * 5, basis[:, :3]) == pytest.approx(0.0, abs=1e-12)
    assert subspace_distance(basis[:, :3], basis[:, 3:]) == pytest.approx(1.0)
    half = np.concatenate([basis[:, :2], basis[:, 3:4]], axis=1)
    assert subspace_distance(half, basis[:, :3]) == pytest.approx(1 / 3)
    assert subspace_distance(torch.from_numpy(half), basis[:, :3]) == pytest.approx(1 / 3)
    a = principal_angles(half, basis[:, :3])
    assert np.allclose(a, [0, 0, np.pi / 2], atol=1e-7)


def test_mode_cosines_align_degenerate_blocks(basis):
    lam = np.array([1.0, 0.5, 0.5, 0.2])
    U = basis[:, :4]
    c, s = np.cos(0.7), np.sin(0.7)
    U_hat = U.copy()
    U_hat[:, 1:3] = U[:, 1:3] @ np.array([[c, -s], [s, c]])  # a rotation inside the 0.5 block
    U_hat[:, 3] *= -1
    assert np.allclose(mode_cosines(U_hat, U, lam), 1.0)
    distinct = np.array([1.0, 0.6, 0.5, 0.2])
    assert mode_cosines(U_hat, U, distinct)[1] == pytest.approx(c)


def test_eigenvalue_error_and_orthogonality(basis):
    assert np.allclose(eigenvalue_error([1.0, 2.0], torch.tensor([1.5, 2.0])), [0.5, 0.0])
    with pytest.raises(ValueError, match="shape"):
        eigenvalue_error([1.0], [1.0, 2.0])
    assert orthogonality_error(basis * 3) == pytest.approx(0.0, abs=1e-12)
    skew = basis[:, :2].copy()
    skew[:, 1] = basis[:, 0] + basis[:, 1]
    assert orthogonality_error(skew) == pytest.approx(np.sqrt(2 * 0.5), rel=1e-9)


def test_residual_norms_numpy_and_torch():
    A = sp.diags([1.0, 2.0, 3.0])
    U = np.eye(3)[:, :2]
    assert np.allclose(residual_norms(lambda x: A @ x, U, [1.0, 2.0]), 0)
    assert np.allclose(residual_norms(lambda x: A @ x, U, [1.0, 1.0]), [0, 1])
    At = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert np.allclose(residual_norms(lambda x: At @ x, torch.from_numpy(U), [1.0, 2.0]), 0)


def test_gap_cutoff():
    assert gap_cutoff([0, 0.1, 0.2, 0.2, 0.3], 3) == 2
    assert gap_cutoff([0, 0.1, 0.2, 0.3], 3) == 3
    assert gap_cutoff([1, 1, 1], 2) == 0
    with pytest.raises(ValueError, match="k \\+ 1"):
        gap_cutoff([0, 1], 2)
