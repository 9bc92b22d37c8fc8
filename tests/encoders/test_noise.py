import pytest
import torch

from pyg_spectral.encoders import hashed_normal


def test_rows_depend_only_on_the_id():
    ids = torch.tensor([5, 0, 123456789, 42])
    alone = hashed_normal(ids, 8, seed=3)
    bigger = hashed_normal(torch.cat([torch.arange(1000), ids.flip(0)]), 8, seed=3)
    assert torch.equal(bigger[-4:], alone.flip(0))
    assert torch.equal(hashed_normal(torch.arange(1000), 8, seed=3), bigger[:1000])
    # a wider draw extends the channels without changing the first ones
    assert torch.equal(hashed_normal(ids, 12, seed=3)[:, :8], alone)
    assert not torch.equal(hashed_normal(ids, 8, seed=4), alone)


def test_standard_normal_and_independent():
    z = hashed_normal(torch.arange(100_000), 4, seed=0, dtype=torch.float64)
    assert abs(float(z.mean())) < 0.01
    assert abs(float(z.var()) - 1.0) < 0.02
    assert abs(float((z ** 4).mean()) - 3.0) < 0.1  # Gaussian kurtosis
    corr = torch.corrcoef(z.T) - torch.eye(4, dtype=torch.float64)
    assert float(corr.abs().max()) < 0.02
    other = hashed_normal(torch.arange(100_000), 4, seed=1, dtype=torch.float64)
    assert abs(float((z * other).mean())) < 0.02
    assert bool(torch.isfinite(z).all())


def test_bad_ids():
    with pytest.raises(TypeError, match="integer"):
        hashed_normal(torch.tensor([0.5]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        hashed_normal(torch.tensor([-1]), 2)
