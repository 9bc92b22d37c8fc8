"""Inductive PE mode: training across graphs, refinement, save/load."""
from __future__ import annotations

import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import cycle_graph, grid_graph, path_graph
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.transforms import AddNeuralEigenvectorPE


@pytest.fixture(scope="module")
def trained():
    graphs = [grid_graph(r, c) for r in range(4, 9) for c in range(4, 9)] + [path_graph(n) for n in range(10, 30)]
    return AddNeuralEigenvectorPE.fit(graphs, k=4, steps=150, batch_graphs=8, progress=False,
                                      gnn="gcn", num_layers=4, hidden_channels=32)


def test_training_decreases_the_loss(trained):
    hist = trained.model_.history_
    assert sum(hist[-10:]) / 10 < sum(hist[:10]) / 10


def test_unseen_graph_gets_deterministic_finite_pe(trained):
    g = grid_graph(9, 11)  # larger than every training graph
    a = trained(g.clone()).laplacian_eigenvector_pe
    b = trained(g.clone()).laplacian_eigenvector_pe
    assert a.shape == (99, 4) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert torch.allclose(a.norm(dim=0), torch.ones(4, dtype=a.dtype), atol=1e-5)


def test_refinement_reaches_exact_eigenvectors(trained):
    # Subspace iteration from the network's functions, then Rayleigh-Ritz.
    g = cycle_graph(31)
    trained.refine_steps = 400
    try:
        out = trained(g.clone())
    finally:
        trained.refine_steps = 0
    vals, vecs = exact_eigenpairs(g, 6)
    # cycle eigenvalues come in pairs: compare the span of modes 1..4 (two full pairs)
    assert subspace_distance(out.laplacian_eigenvector_pe, vecs[:, 1:5]) <= 1e-3


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "pe.pt"
    trained.save(path)
    loaded = AddNeuralEigenvectorPE.load(path)
    g = grid_graph(6, 7)
    assert torch.equal(loaded(g.clone()).laplacian_eigenvector_pe, trained(g.clone()).laplacian_eigenvector_pe)
    assert "inductive" in repr(loaded)


def test_load_checks_format_and_shapes(trained, tmp_path):
    path = tmp_path / "pe.pt"
    trained.save(path)
    blob = torch.load(path, weights_only=True)
    blob["format"] = 99
    torch.save(blob, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format"):
        AddNeuralEigenvectorPE.load(tmp_path / "future.pt")
    blob["format"] = 1
    blob["config"] = dict(blob["config"], hidden_channels=16)
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match"):
        AddNeuralEigenvectorPE.load(tmp_path / "mismatch.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved"):
        AddNeuralEigenvectorPE.load(tmp_path / "other.pt")


def test_transductive_transform_cannot_be_saved(tmp_path):
    with pytest.raises(RuntimeError, match="inductive"):
        AddNeuralEigenvectorPE(3).save(tmp_path / "x.pt")
