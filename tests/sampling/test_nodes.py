"""NodeSampler: importance weights and bad input."""
import pytest
import torch

from pyg_spectral.sampling import NodeSampler


def test_weights_make_unbiased_means():
    gen = torch.Generator().manual_seed(0)
    rho = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    g = torch.tensor([1.0, -2.0, 3.0, 0.5], dtype=torch.float64)
    for proposal in ["measure", "uniform", torch.tensor([0.4, 0.3, 0.2, 0.1])]:
        sampler = NodeSampler(rho, 50_000, proposal=proposal, generator=gen)
        n_id, w = sampler.sample(dtype=torch.float64)
        assert float((w * g[n_id]).sum()) == pytest.approx(float((rho * g).sum()), abs=0.03)


def test_measure_proposal_has_equal_weights():
    n_id, w = NodeSampler(torch.full((10,), 0.1), 8).sample()
    assert n_id.shape == (8,) and torch.allclose(w, torch.full((8,), 1 / 8))


def test_degree_proposal_with_isolated_nodes_raises():
    with pytest.raises(ValueError, match="probability 0 to 1 nodes"):
        NodeSampler(torch.full((3,), 1 / 3), 4, proposal="degree", degree=torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        NodeSampler(torch.full((3,), 1 / 3), batch_size)
