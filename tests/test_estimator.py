"""NeuralSpectralEmbedding against ground truth (eigsh, dense eigh, closed forms).

The accuracy bar of the core issue: max |eigenvalue error| <= 1e-3 and
subspace distance <= 1e-2, with eigenspaces compared at a spectral gap
(``gap_cutoff``) where eigenvalues are degenerate. The full table (every
graph, k = 16 and 32) is in ``benchmarks/exactness.py``; here a fast subset.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.utils import degree

from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import cycle_graph, grid_graph, laplacian_spectrum, path_eigenvectors, path_graph
from pyg_spectral.metrics import gap_cutoff, mode_cosines, orthogonality_error, residual_norms, subspace_distance

EIG_TOL = 1e-3
SUBSPACE_TOL = 1e-2


def check_against(model, eigenvalues, eigenvectors, k):
    """Assert the bar; ``eigenvalues`` holds at least k + 1 reference values."""
    learned = model.eigenvalues_.numpy()
    assert learned.shape == (k,)
    assert np.abs(learned - eigenvalues[:k]).max() <= EIG_TOL
    kk = gap_cutoff(eigenvalues, k)
    assert kk >= k // 2
    assert subspace_distance(model.embedding_[:, :kk], eigenvectors[:, :kk]) <= SUBSPACE_TOL
    assert torch.isfinite(model.embedding_).all()


def fit(data, k, **kwargs):
    kwargs.setdefault("progress", False)
    return NeuralSpectralEmbedding(k, **kwargs).fit(data)


# ----------------------------------------------------------------- real graphs
@pytest.mark.parametrize("k", [16, 32])
def test_cora_lcc(cora_lcc, k):
    model = fit(cora_lcc, k)
    vals, vecs = exact_eigenpairs(cora_lcc, k + 1)
    check_against(model, vals, vecs, k)
    assert model.converged_


def test_citeseer_lcc(citeseer_lcc):
    model = fit(citeseer_lcc, 32)
    vals, vecs = exact_eigenpairs(citeseer_lcc, 33)
    check_against(model, vals, vecs, 32)


def test_ego_facebook(facebook):
    model = fit(facebook, 32)
    vals, vecs = exact_eigenpairs(facebook, 33)
    check_against(model, vals, vecs, 32)


# ------------------------------------------------------------ closed forms
def test_path_closed_form():
    n, k = 200, 16
    model = fit(path_graph(n), k)
    check_against(model, laplacian_spectrum("path", n), path_eigenvectors(n, k + 1), k)


def test_cycle_closed_form_degenerate_pairs():
    # Cycle eigenvalues come in pairs: only eigenspaces are unique.
    n, k = 100, 16
    model = fit(cycle_graph(n), k)
    vals = laplacian_spectrum("cycle", n)
    assert np.abs(model.eigenvalues_.numpy() - vals[:k]).max() <= EIG_TOL
    _, vecs = exact_eigenpairs(cycle_graph(n), k + 1)
    kk = gap_cutoff(vals, k)
    assert kk == 15  # lambda_16 = lambda_17 on the cycle
    assert subspace_distance(model.embedding_[:, :kk], vecs[:, :kk]) <= SUBSPACE_TOL
    # Per-mode cosines, aligned inside the degenerate pairs, are ~1.
    cos = mode_cosines(model.embedding_[:, :kk], vecs[:, :kk], vals[:kk], tol=1e-8)
    assert cos.min() >= 0.99


def test_torus_closed_form():
    model = fit(grid_graph(16, 16, periodic=True), 32)
    vals = laplacian_spectrum("torus", 16, 16)
    assert np.abs(model.eigenvalues_.numpy() - vals[:32]).max() <= EIG_TOL


def test_grid_32():
    data = grid_graph(20, 20)
    model = fit(data, 32)
    vals, vecs = exact_eigenpairs(data, 33)
    check_against(model, vals, vecs, 32)


# ------------------------------------------------------------------ variants
VARIANTS = [
    dict(loss="nested_omm", loss_kwargs={"order": "1"}),
    dict(loss="nested_omm", loss_kwargs={"order": "2"}),
    dict(loss="nested_omm", loss_kwargs={"order": "1+2"}),
    dict(nesting="sequential"),
    dict(nesting=None),
    dict(gradient="autograd"),
    dict(filter_degree=2),
    dict(dtype=torch.float64),
    dict(optimizer="adam", lr=3e-2, max_steps=4000),
]


@pytest.mark.parametrize("kwargs", VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_variants_meet_the_bar(cora_lcc, kwargs):
    model = fit(cora_lcc, 16, **kwargs)
    vals, vecs = exact_eigenpairs(cora_lcc, 17)
    check_against(model, vals, vecs, 16)


@pytest.mark.parametrize("operator", ["adjacency", "lazy_adjacency", "random_walk"])
def test_operators(cora_lcc, operator):
    model = fit(cora_lcc, 16, operator=operator)
    vals, vecs = exact_eigenpairs(cora_lcc, 17, operator)
    check_against(model, vals, vecs, 16)
    # Descending order and the trivial eigenvalue 1 on top.
    assert bool((model.eigenvalues_[:-1] >= model.eigenvalues_[1:] - 1e-9).all())
    assert model.eigenvalues_[0] == pytest.approx(1.0, abs=1e-6)


def test_random_walk_vectors_are_right_eigenvectors(karate):
    model = fit(karate, 4, operator="random_walk")
    ei = karate.edge_index
    deg = degree(ei[0], karate.num_nodes, dtype=torch.float64)

    def P(u):
        u = torch.as_tensor(u, dtype=torch.float64)
        out = torch.zeros_like(u).index_add_(0, ei[0], u[ei[1]])
        return out / deg.unsqueeze(-1)

    res = residual_norms(P, model.embedding_.double(), model.eigenvalues_)
    assert res.max() <= 1e-3


def test_laplacian_order_and_trivial_first_column(cora_lcc):
    model = fit(cora_lcc, 8)
    lam = model.eigenvalues_
    assert bool((lam[1:] >= lam[:-1] - 1e-9).all())
    assert abs(float(lam[0])) <= 1e-6
    deg = degree(cora_lcc.edge_index[0], cora_lcc.num_nodes, dtype=torch.float64)
    trivial = deg.sqrt() / deg.sqrt().norm()
    assert torch.allclose(model.embedding_[:, 0].double(), trivial, atol=1e-4)


# ---------------------------------------------------------------- behaviour
def test_transform_columns_sign_and_orthogonality(cora_lcc):
    model = fit(cora_lcc, 16)
    u = model.transform()
    assert u.shape == (cora_lcc.num_nodes, 16)
    assert torch.allclose(u.norm(dim=0), torch.ones(16), atol=1e-5)
    idx = u.abs().argmax(0)
    assert bool((u[idx, torch.arange(16)] > 0).all())
    assert orthogonality_error(u) <= 1e-3
    assert torch.equal(u, model.embedding_)
    assert torch.equal(u, model.eigenvectors_)
    assert model.residuals_.max() <= model.tol * 1.0001


def test_fit_transform_and_determinism(cora_lcc):
    a = NeuralSpectralEmbedding(8, progress=False, seed=3).fit_transform(cora_lcc)
    b = NeuralSpectralEmbedding(8, progress=False, seed=3).fit_transform(cora_lcc)
    assert torch.equal(a, b)


def test_fit_returns_self_and_attributes(karate):
    model = NeuralSpectralEmbedding(4, progress=False)
    assert model.fit(karate) is model
    assert model.n_components_learned_ == 12
    assert model.n_connected_components_ == 1
    assert model.n_iter_ == model.history_[-1]["step"]
    assert model.fit_time_ > 0
    for record in model.history_:
        assert {"step", "time", "loss", "lr", "residual", "eigenvalues"} <= set(record)
        assert math.isfinite(record["loss"])
    assert model.history_[-1]["residual"] <= model.tol


def test_history_residual_decreases(cora_lcc):
    model = fit(cora_lcc, 16, tol=1e-6)
    res = [r["residual"] for r in model.history_]
    assert res[-1] < res[0] / 100


def test_convergence_warning(cora_lcc):
    with pytest.warns(ConvergenceWarning, match="max_steps=10"):
        model = fit(cora_lcc, 16, max_steps=10)
    assert not model.converged_
    assert model.n_iter_ == 10


def test_no_convergence_warning_when_converged(karate, no_warnings):
    fit(karate, 4)


def test_warm_start_reuses_the_encoder(cora_lcc):
    model = fit(cora_lcc, 16, warm_start=True)
    first = model.n_iter_
    model.fit(cora_lcc)
    assert model.n_iter_ < first


def test_without_rayleigh_ritz_nesting_orders_the_functions(cora_lcc):
    # Without the final Rayleigh-Ritz, the raw functions are returned in
    # nesting order. Their Rayleigh quotients are still close to the
    # eigenvalues; tiny in-subspace gaps (~1e-4) limit per-vector accuracy.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit(cora_lcc, 8, rayleigh_ritz=False, n_oversamples=0, max_steps=3000, tol=0.0)
    vals, vecs = exact_eigenpairs(cora_lcc, 9)
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= 1e-2
    kk = gap_cutoff(vals, 8)
    assert subspace_distance(model.embedding_[:, :kk], vecs[:, :kk]) <= 0.1


def test_params_and_repr():
    model = NeuralSpectralEmbedding(8, operator="lazy_adjacency", max_steps=50)
    params = model.get_params()
    assert params["num_components"] == 8 and params["operator"] == "lazy_adjacency"
    assert model.set_params(tol=1e-3) is model and model.tol == 1e-3
    text = repr(model)
    assert text.startswith("NeuralSpectralEmbedding(8") and "lazy_adjacency" in text and "tol=0.001" in text
    assert "seed" not in text  # defaults are not shown


# ------------------------------------------------------------ neural encoders
@pytest.fixture(scope="module")
def grid_with_coordinates():
    """A 12 x 16 grid whose node features are its (row, col) coordinates."""
    data = grid_graph(12, 16)
    r, c = torch.meshgrid(torch.arange(12.0), torch.arange(16.0), indexing="ij")
    data.x = torch.stack([r.ravel() / 11, c.ravel() / 15], 1)
    return data


# Measured bars after 1000 Adam steps (k = 6; calibration over seeds 0 and 1
# gave GCN <= 8e-4 / 6e-4, SAGE <= 8e-5 / 8e-5, MLP <= 1.1e-2 / 1.5e-2 and
# GIN 7e-3 / 5e-2 for eigenvalue error / subspace distance). Neural encoders
# trade accuracy for generalisation; the embedding table meets 1e-3 / 1e-2.
NEURAL = [
    ("sage", 3e-3, {}, 1e-3, 1e-3),
    ("gcn", 1e-2, {}, 5e-3, 5e-3),
    ("mlp", 1e-2, {"hidden_channels": 64, "num_layers": 3}, 3e-2, 5e-2),
    ("gin", 1e-3, {}, 2e-2, 0.15),
]


@pytest.mark.parametrize("encoder,lr,encoder_kwargs,eig_tol,subspace_tol", NEURAL, ids=[n[0] for n in NEURAL])
def test_neural_encoders(grid_with_coordinates, encoder, lr, encoder_kwargs, eig_tol, subspace_tol):
    data = grid_with_coordinates
    k = 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit(data, k, encoder=encoder, lr=lr, max_steps=1000, encoder_kwargs=encoder_kwargs)
    vals, vecs = exact_eigenpairs(data, k + 1)
    assert np.abs(model.eigenvalues_.numpy() - vals[:k]).max() <= eig_tol
    kk = gap_cutoff(vals, k)
    assert subspace_distance(model.embedding_[:, :kk], vecs[:, :kk]) <= subspace_tol
    # transform(new data) runs the encoder and the fitted Ritz map: same graph, same vectors.
    again = model.transform(data.clone())
    assert torch.allclose(again, model.embedding_, atol=1e-5)
