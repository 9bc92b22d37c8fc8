"""NeuralSpectralEmbedding with batch_size: accuracy against eigsh and bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_spectral import ConvergenceWarning, GraphInputError, NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import path_graph, sbm_graph
from pyg_spectral.metrics import subspace_distance


@pytest.fixture(scope="module")
def sbm():
    """8 planted communities: a well-separated bottom-8 Laplacian eigenspace."""
    data = sbm_graph([150] * 8, 0.08, 0.003, seed=1)
    data.x = torch.nn.functional.one_hot(data.y, 8).float() + 0.5 * torch.randn(
        data.num_nodes, 8, generator=torch.Generator().manual_seed(0))
    return data


@pytest.fixture(scope="module")
def sbm_exact(sbm):
    return exact_eigenpairs(sbm, 9)


def fit(data, k=8, **kwargs):
    kwargs.setdefault("progress", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return NeuralSpectralEmbedding(k, **kwargs).fit(data)


# Measured over seeds 0 and 1 (eigenvalue error / subspace distance): node 1.2e-2 / 1.5e-2,
# edge 2.1e-2 / 2.6e-2. Mini-batch noise sets the floor (full batch reaches 1e-8 on the same graph).
@pytest.mark.parametrize("sampler,edge_mode,bar", [("node", "uniform", 3e-2), ("edge", "uniform", 4e-2),
                                                   ("edge", "weighted", 4e-2)])
def test_table_minibatch_meets_loose_bar(sbm, sbm_exact, sampler, edge_mode, bar):
    model = fit(sbm, batch_size=128, sampler=sampler, edge_mode=edge_mode, max_steps=2000, tol=1e-3)
    vals, vecs = sbm_exact
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= bar
    assert subspace_distance(model.embedding_, vecs[:, :8]) <= bar


def test_gnn_neighbor_sampling_learns_the_communities(sbm, sbm_exact):
    # Measured: 8.5e-2 / 0.10 after 600 steps.
    model = fit(sbm, encoder="sage", sampler="neighbor", num_neighbors=[5, 5], batch_size=128, lr=1e-2,
                max_steps=600, encoder_kwargs={"hidden_channels": 64})
    vals, vecs = sbm_exact
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= 0.15
    assert subspace_distance(model.embedding_, vecs[:, :8]) <= 0.15
    # batched inference on the same graph reproduces the embedding
    assert torch.allclose(model.transform(sbm), model.embedding_, atol=1e-4)


def test_mlp_minibatch_with_ema(sbm):
    # The random walk's right eigenvectors are close to block indicators, functions of the
    # one-hot features an MLP sees (the Laplacian's carry sqrt(degree), which it cannot see).
    # Measured: 4.5e-2 / 5.2e-2 mini-batch, 4.1e-2 / 4.6e-2 full batch: the function class,
    # not the sampling, sets the error.
    data = sbm.clone()
    data.x = torch.nn.functional.one_hot(data.y, 8).float() + 0.1 * torch.randn(
        data.num_nodes, 8, generator=torch.Generator().manual_seed(0))
    model = fit(data, operator="random_walk", encoder="mlp", batch_size=128, lr=1e-2, max_steps=600,
                ema_decay=0.99, encoder_kwargs={"hidden_channels": 64})
    vals, vecs = exact_eigenpairs(data, 9, "random_walk")
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= 0.08
    assert subspace_distance(model.embedding_, vecs[:, :8]) <= 0.08
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= 0.1
    assert subspace_distance(model.embedding_, vecs[:, :8]) <= 0.15


def test_held_out_residual_estimate_tracks_the_exact_one(sbm):
    model = fit(sbm, batch_size=128, max_steps=1000, tol=0.0, eval_size=600)
    estimate = model.history_[-1]["residual"]
    exact = float(model.residuals_.max())
    assert 0.3 * exact <= estimate <= 3.0 * exact


def test_minibatch_is_deterministic(sbm):
    a = fit(sbm, batch_size=64, max_steps=100)
    b = fit(sbm, batch_size=64, max_steps=100)
    assert torch.equal(a.embedding_, b.embedding_)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"batch_size": 5000}, ValueError, "larger than the graph"),
        ({"batch_size": 1}, ValueError, "batch_size"),
        ({"batch_size": 3, "loss": "nested_omm", "loss_kwargs": {"order": "2"}}, ValueError, "at least 4"),
        ({"batch_size": 64, "sampler": "neighbor"}, ValueError, "GNN encoders"),
        ({"batch_size": 64, "sampler": "random"}, ValueError, "Unknown sampler"),
        ({"batch_size": 64, "encoder": "sage", "num_neighbors": [5]}, ValueError, "2 layers"),
        ({"batch_size": 64, "filter_degree": 2}, ValueError, "full-batch only"),
        ({"batch_size": 64, "gradient": "autograd"}, ValueError, "gradient='custom'"),
        ({"batch_size": 64, "ema_decay": 1.5}, ValueError, "ema_decay"),
    ],
)
def test_bad_minibatch_settings(sbm, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(sbm, max_steps=5, **kwargs)


def test_edge_sampler_with_zero_degree_nodes_raises():
    data = Data(edge_index=path_graph(20).edge_index, num_nodes=22)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GraphInputError, match="degree 0"):
            NeuralSpectralEmbedding(2, batch_size=8, sampler="edge", progress=False).fit(data)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_minibatch(sbm, sbm_exact):
    model = fit(sbm, batch_size=128, max_steps=2000, tol=1e-3, device="cuda")
    vals, _ = sbm_exact
    assert model.embedding_.device.type == "cuda"
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= 2e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_full_batch(sbm, sbm_exact):
    model = fit(sbm, device="cuda")
    vals, _ = sbm_exact
    assert np.abs(model.eigenvalues_.numpy() - vals[:8]).max() <= 1e-3
