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


def test_draw_categorical_follows_the_law_and_skips_zero_probabilities():
    from pyg_spectral.sampling.nodes import draw_categorical

    p = torch.tensor([0.0, 0.1, 0.0, 0.6, 0.3, 0.0], dtype=torch.float64)
    draws = draw_categorical(torch.cumsum(p, 0), 200_000, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=6).double() / draws.numel()
    assert freq[p == 0].sum() == 0
    se = (p * (1 - p) / draws.numel()).sqrt()
    assert ((freq - p).abs() <= 5 * se + 1e-12).all()


def test_node_sampler_beyond_torch_multinomial_limit():
    # torch.multinomial refuses more than 2**24 categories; graphs such as ogbn-papers100M have 111M nodes.
    n = 2 ** 24 + 1000
    measure = torch.ones(n, dtype=torch.float64)
    measure[: n // 2] = 0.0  # the first half carries no mass and must never be drawn
    measure /= measure.sum()
    n_id, weight = NodeSampler(measure, 4096, generator=torch.Generator().manual_seed(0)).sample()
    assert n_id.min() >= n // 2 and n_id.max() < n
    assert torch.allclose(weight, torch.full_like(weight, 1 / 4096))
