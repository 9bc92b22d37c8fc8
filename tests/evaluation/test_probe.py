"""Probes: scores, model selection, OGB scoring, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.evaluation import (evaluate_embedding, export_ogb_node_dataset, load_ogb_node_dataset,
                                     planetoid_split)
from pyg_spectral.evaluation.probe import WEIGHT_DECAY_GRID


def test_linear_probe_on_raw_features_is_in_the_known_range(cora):
    res = evaluate_embedding(None, cora.y, planetoid_split(cora), features=cora.x)
    # Logistic regression on Cora's bag of words, public split: ~55-60% in the literature (measured 58.0).
    assert 0.45 <= res.test_mean <= 0.70
    # a convex problem solved to optimum: one deterministic run, weight decay chosen on valid from the grid
    assert len(res.test) == 1 and res.num_params == 1433 * 7 + 7
    assert res.weight_decay in WEIGHT_DECAY_GRID
    assert "test" in str(res) and "weight decay" in str(res)
    again = evaluate_embedding(None, cora.y, planetoid_split(cora), features=cora.x)
    assert again.test == res.test and again.valid == res.valid


def test_linear_probe_is_rotation_equivariant(cora_lcc):
    # Eigenvectors are defined up to a rotation inside an eigenspace: any orthonormal basis of the same
    # span must score the same (Adam with a random init and early stopping does not guarantee this).
    _, vecs = exact_eigenpairs(cora_lcc, 16)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    split = planetoid_split(cora_lcc)
    a = evaluate_embedding(torch.from_numpy(vecs).float(), cora_lcc.y, split, features=cora_lcc.x)
    b = evaluate_embedding((torch.from_numpy(vecs) @ rotation).float(), cora_lcc.y, split, features=cora_lcc.x)
    assert a.valid == b.valid and a.test == b.test and a.weight_decay == b.weight_decay


def test_adam_solver_runs_over_seeds(cora):
    res = evaluate_embedding(None, cora.y, planetoid_split(cora), features=cora.x, solver="adam", seeds=2, epochs=100)
    assert len(res.test) == 2 and 0.45 <= res.test_mean <= 0.70 and res.weight_decay == 5e-3


def test_mlp_probe_runs_and_selects_on_valid(cora):
    res = evaluate_embedding(None, cora.y, planetoid_split(cora), features=cora.x, probe="mlp", seeds=1, epochs=50)
    assert 0.3 <= res.valid_mean <= 0.8


def test_exact_eigenvectors_carry_label_information(cora_lcc):
    # On the LCC the split masks still apply (LargestConnectedComponents subsets them).
    _, vecs = exact_eigenpairs(cora_lcc, 32)
    res = evaluate_embedding(torch.from_numpy(vecs).float(), cora_lcc.y, planetoid_split(cora_lcc))
    assert res.test_mean >= 0.5  # chance is ~0.14 (7 classes)


@pytest.mark.slow
def test_full_pipeline_on_exported_ogb_data(cora_lcc, tmp_path):
    meta = export_ogb_node_dataset(cora_lcc, str(tmp_path), "pygs-cora-lcc", planetoid_split(cora_lcc))
    data, split, evaluator = load_ogb_node_dataset("pygs-cora-lcc", meta_dict=meta)
    emb = NeuralSpectralEmbedding(32, progress=False).fit_transform(data)
    learned = evaluate_embedding(emb, data.y, split, evaluator=evaluator)
    _, vecs = exact_eigenpairs(data, 32)
    exact = evaluate_embedding(torch.from_numpy(vecs).float(), data.y, split, evaluator=evaluator)
    assert abs(learned.test_mean - exact.test_mean) <= 0.005


@pytest.mark.slow
def test_unlabeled_nodes_are_dropped(cora):
    y = cora.y.clone().float()
    split = planetoid_split(cora)
    y[split["test"][:100]] = float("nan")
    y[split["test"][100:200]] = -1
    res = evaluate_embedding(None, y, split, features=cora.x, max_iter=30)
    assert np.isfinite(res.test_mean)


@pytest.mark.parametrize("bad,match", [
    ("rows", "rows"),
    ("split", "outside"),
    ("probe", "Unknown probe"),
    ("nan", "NaN"),
    ("nolabels", "no labeled nodes"),
    ("solver", "Unknown solver"),
    ("lbfgs_mlp", "linear probe only"),
])
def test_bad_input(cora, bad, match):
    emb = torch.randn(cora.num_nodes, 4)
    split = planetoid_split(cora)
    y = cora.y
    kwargs = {}
    if bad == "rows":
        emb = emb[:-3]
    elif bad == "split":
        split = dict(split, valid=torch.tensor([cora.num_nodes]))
    elif bad == "probe":
        kwargs["probe"] = "svm"
    elif bad == "nan":
        emb[5, 1] = float("nan")
    elif bad == "nolabels":
        y = y.clone()
        y[split["valid"]] = -1
    elif bad == "solver":
        kwargs["solver"] = "sgd"
    elif bad == "lbfgs_mlp":
        kwargs.update(probe="mlp", solver="lbfgs")
    with pytest.raises(ValueError, match=match):
        evaluate_embedding(emb, y, split, seeds=1, epochs=2, **kwargs)


def test_probe_result_prints_without_a_weight_decay():
    from pyg_spectral.evaluation.probe import ProbeResult

    text = str(ProbeResult("linear", valid=[0.5], test=[0.25]))
    assert "test 25.00" in text and "weight decay" not in text
    assert "weight decay 0.01" in str(ProbeResult("linear", valid=[0.5], test=[0.25], weight_decay=0.01))
