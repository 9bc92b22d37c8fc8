"""A saved or trained inductive PE model that is hostile or diverged fails fast and clearly."""
from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch

from pyg_spectral.datasets import cycle_graph, grid_graph
from pyg_spectral.exceptions import DivergenceError
from pyg_spectral.transforms.inductive import FORMAT_VERSION, InductivePEModel


@pytest.fixture(scope="module")
def small_model():
    return InductivePEModel(k=2, hidden_channels=8, num_layers=2).fit([cycle_graph(n) for n in range(8, 20)],
                                                                      steps=5, progress=False)


def _encode(model):
    b = Batch.from_data_list([cycle_graph(40), grid_graph(6, 7)])  # larger than m + 1: no exact small-graph path
    return model.encode(b.edge_index, None, b.num_nodes, b.batch, b.num_graphs, refine_steps=12)


def test_huge_config_in_a_saved_file_is_refused(tmp_path, small_model):
    path = tmp_path / "pe.pt"
    config = dict(small_model.config, k=10**6)
    torch.save({"format": FORMAT_VERSION, "library_version": "0", "config": config,
                "state_dict": small_model.state_dict()}, path)
    with pytest.raises(ValueError, match="k=1000000"):
        InductivePEModel.load(path)


@pytest.mark.parametrize("value", [math.nan, 3e38])
def test_nan_or_overflowing_parameters_raise_instead_of_hanging(small_model, value):
    broken = InductivePEModel(**small_model.config)
    broken.load_state_dict(small_model.state_dict())
    with torch.no_grad():
        for p in broken.parameters():
            p.fill_(value)
    with pytest.raises(DivergenceError, match="not finite|could not factor"):
        _encode(broken.eval())


def test_a_diverging_fit_raises_divergence_error():
    with pytest.raises(DivergenceError):
        InductivePEModel(k=2, hidden_channels=8, num_layers=2).fit(
            [cycle_graph(n) for n in range(8, 20)], steps=200, lr=1e8, progress=False)


def test_fit_is_deterministic_for_a_seed_and_leaves_the_global_rng():
    graphs = [cycle_graph(n) for n in range(8, 20)]
    state = torch.random.get_rng_state()
    a = InductivePEModel(k=2, hidden_channels=8, num_layers=2, seed=3).fit(graphs, steps=5, progress=False)
    torch.manual_seed(123)  # whatever the global RNG holds
    b = InductivePEModel(k=2, hidden_channels=8, num_layers=2, seed=3).fit(graphs, steps=5, progress=False)
    assert a.history_ == b.history_
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    torch.random.set_rng_state(state)
