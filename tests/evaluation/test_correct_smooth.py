"""Correct & Smooth as a probe option: the post-processing uses only training labels and helps on homophilous graphs."""
import pytest
import torch

from pyg_spectral.datasets import planted_partition_graph
from pyg_spectral.evaluation import CS_GRID, correct_and_smooth, evaluate_embedding, planetoid_split


def _toy(n=300, blocks=3, seed=0):
    data = planted_partition_graph(n, blocks, avg_degree=8.0, mixing=0.05, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    # weak features: the class signal is mostly in the graph, where C&S reads it
    data.x = 0.4 * torch.nn.functional.one_hot(data.y, blocks).float() + torch.randn(n, blocks, generator=gen)
    perm = torch.randperm(n, generator=gen)
    split = {"train": perm[:30], "valid": perm[30:130], "test": perm[130:]}
    return data, split


def test_cs_improves_or_keeps_the_linear_probe_on_a_planted_partition():
    data, split = _toy()
    base = evaluate_embedding(None, data.y, split, features=data.x)
    cs = evaluate_embedding(None, data.y, split, features=data.x, correct_and_smooth=True, edge_index=data.edge_index)
    assert 0.0 <= cs.test_mean <= 1.0 and cs.probe == "linear+C&S"
    assert cs.base_test == base.test and cs.weight_decay == base.weight_decay  # same selected probe underneath
    assert cs.test_mean >= base.test_mean and cs.test_mean > 0.9  # 5% mixing: the graph nearly gives the labels


def test_cs_with_the_adam_solver_over_seeds():
    data, split = _toy(seed=1)
    cs = evaluate_embedding(None, data.y, split, features=data.x, solver="adam", seeds=2, epochs=30,
                            correct_and_smooth={"autoscale": True, "scale": 1.0}, edge_index=data.edge_index)
    assert len(cs.test) == 2 and len(cs.base_test) == 2 and all(0.0 <= t <= 1.0 for t in cs.test)


def test_cs_select_keeps_the_grid_setting_best_on_valid():
    data, split = _toy(seed=3)
    sel = evaluate_embedding(None, data.y, split, features=data.x, correct_and_smooth="select",
                             edge_index=data.edge_index)
    assert len(sel.cs_settings) == 1 and sel.cs_settings[0] in CS_GRID
    for setting in CS_GRID:  # the selected setting's valid score is the best of the grid, and its test score is reported
        one = evaluate_embedding(None, data.y, split, features=data.x, correct_and_smooth=setting,
                                 edge_index=data.edge_index)
        assert one.base_test == sel.base_test  # the same probe underneath
        assert one.valid_mean <= sel.valid_mean
        if setting == sel.cs_settings[0]:
            assert one.test == sel.test


def test_cs_reads_only_training_labels():
    data, split = _toy(seed=2)
    probs = torch.full((data.num_nodes, 3), 1 / 3)
    scrambled = data.y.clone()
    rest = torch.ones(data.num_nodes, dtype=torch.bool)
    rest[split["train"]] = False
    scrambled[rest] = (scrambled[rest] + 1) % 3  # every non-train label changed
    a = correct_and_smooth(probs, data.y, split["train"], data.edge_index)
    b = correct_and_smooth(probs, scrambled, split["train"], data.edge_index)
    assert torch.equal(a, b)


def test_cs_bad_input():
    data, split = _toy()
    with pytest.raises(ValueError, match="edge_index"):
        evaluate_embedding(None, data.y, split, features=data.x, correct_and_smooth=True)
    with pytest.raises(ValueError, match="Unknown Correct & Smooth"):
        correct_and_smooth(torch.full((300, 3), 1 / 3), data.y, split["train"], data.edge_index, alpha=0.5)
    with pytest.raises(ValueError, match="outside"):
        correct_and_smooth(torch.full((10, 3), 1 / 3), data.y, torch.arange(3), data.edge_index)
    with pytest.raises(ValueError, match="correct_and_smooth must be"):
        evaluate_embedding(None, data.y, split, features=data.x, correct_and_smooth="yes", edge_index=data.edge_index)


def test_cs_on_cora_beats_the_raw_feature_probe(cora):
    split = planetoid_split(cora)
    base = evaluate_embedding(None, cora.y, split, features=cora.x)
    cs = evaluate_embedding(None, cora.y, split, features=cora.x, correct_and_smooth=True, edge_index=cora.edge_index)
    # measured 56.2 -> 74.3 (public split); C&S on a homophilous citation graph adds well over 10 points
    assert cs.test_mean >= base.test_mean + 0.10
