"""SVD mode against scipy (svds / dense SVD) on directed and bipartite graphs."""
from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch
from torch_geometric.data import Data

from pyg_spectral import NeuralSpectralEmbedding
from pyg_spectral.datasets import directed_sbm_graph
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.operators import DirectedNormalizedAdjacency


def reference(op, k):
    dense = op.scipy().toarray()
    U, S, Vt = np.linalg.svd(dense)
    return S[: k + 1], U[:, :k], Vt[:k].T


def fit(data, k, **kw):
    return NeuralSpectralEmbedding(k, mode="svd", progress=False, **kw).fit(data)


@pytest.mark.slow
@pytest.mark.parametrize("k", [4, 8])
def test_directed_sbm_against_svd(k):
    data = directed_sbm_graph(1500, 6, 60000, seed=0)
    model = fit(data, k)
    op = DirectedNormalizedAdjacency(data.edge_index, None, 1500, 1500, dtype=torch.float64)
    S, U, V = reference(op, k)
    assert np.abs(model.singular_values_.numpy() - S[:k]).max() <= 1e-3
    assert subspace_distance(model.left_singular_vectors_, U) <= 1e-2
    assert subspace_distance(model.right_singular_vectors_, V) <= 1e-2
    assert model.converged_ and torch.equal(model.embedding_, model.left_singular_vectors_)
    # scipy's svds agrees here (well separated singular values)
    u, s, vt = sla.svds(op.scipy(), k=k)
    assert np.allclose(np.sort(s)[::-1], S[:k], atol=1e-8)


@pytest.mark.slow
def test_left_and_right_vectors_differ():
    data = directed_sbm_graph(900, 3, 30000, p_forward=0.9, seed=1)
    model = fit(data, 3)
    assert subspace_distance(model.left_singular_vectors_, model.right_singular_vectors_) > 0.1


def test_zero_in_and_out_degrees():
    # node 0 only sends, node 1 only receives, node 2 is isolated
    data = directed_sbm_graph(400, 2, 8000, seed=2)
    ei = data.edge_index
    ei = ei[:, (ei[1] != 0) & (ei[0] != 1) & (ei[0] != 2) & (ei[1] != 2)]
    data = Data(edge_index=ei, num_nodes=400)
    model = fit(data, 4)
    op = DirectedNormalizedAdjacency(ei, None, 400, 400, dtype=torch.float64)
    S, U, V = reference(op, 4)
    assert torch.isfinite(model.left_singular_vectors_).all()
    assert np.abs(model.singular_values_.numpy() - S[:4]).max() <= 1e-3


def test_bipartite_rectangular():
    gen = torch.Generator().manual_seed(0)
    rows, cols = 300, 200
    ei = torch.stack([torch.randint(rows, (6000,), generator=gen), torch.randint(cols, (6000,), generator=gen)])
    ei = torch.unique(ei, dim=1)
    data = Data(edge_index=ei, num_rows=rows, num_cols=cols, num_nodes=rows + cols)
    model = fit(data, 5)
    op = DirectedNormalizedAdjacency(ei, None, rows, cols, dtype=torch.float64, bipartite=True)
    S, U, V = reference(op, 5)
    assert model.left_singular_vectors_.shape == (rows, 5) and model.right_singular_vectors_.shape == (cols, 5)
    assert np.abs(model.singular_values_.numpy() - S[:5]).max() <= 1e-3


def test_repeated_top_singular_value_from_components():
    # 5 weakly connected components: sigma = 1 five times. The learned spectrum has all five,
    # like the dense SVD (Lanczos-based svds may return fewer copies of a repeated value).
    parts = [directed_sbm_graph(200, 2, 4000, seed=s) for s in range(5)]
    ei = torch.cat([p.edge_index + 200 * i for i, p in enumerate(parts)], 1)
    data = Data(edge_index=ei, num_nodes=1000)
    model = fit(data, 6)
    op = DirectedNormalizedAdjacency(ei, None, 1000, 1000, dtype=torch.float64)
    S, U, V = reference(op, 6)
    assert (np.abs(S[:6] - 1) < 1e-9).sum() == 5
    assert np.abs(model.singular_values_.numpy() - S[:6]).max() <= 1e-3
    assert subspace_distance(model.left_singular_vectors_[:, :5], U[:, :5]) <= 1e-2


@pytest.mark.parametrize("kwargs,match", [
    ({"encoder": "mlp"}, "mode='svd' supports"),
    ({"batch_size": 64}, "mode='svd' supports"),
    ({"mode": "qr"}, "Unknown mode"),
])
def test_bad_svd_settings(kwargs, match):
    data = directed_sbm_graph(200, 2, 4000)
    args = dict(mode="svd", progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        NeuralSpectralEmbedding(3, **args).fit(data)


def test_k_too_large():
    data = directed_sbm_graph(50, 2, 800)
    with pytest.raises(ValueError, match="smaller than the number of rows"):
        fit(data, 50)
