import numpy as np
import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import laplacian_spectrum, path_eigenvectors, path_graph
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.operators import RandomWalk


def test_dense_and_sparse_agree_with_closed_form():
    data = path_graph(60)
    for dense_below in (10**6, 0):
        vals, vecs = exact_eigenpairs(data, 6, "laplacian", dense_below=dense_below)
        assert np.allclose(vals, laplacian_spectrum("path", 60)[:6], atol=1e-10)
        assert subspace_distance(vecs, path_eigenvectors(60, 6)) < 1e-12


def test_orders_and_random_walk_vectors(karate):
    lap, _ = exact_eigenpairs(karate, 4, "laplacian")
    adj, _ = exact_eigenpairs(karate, 4, "adjacency")
    assert np.all(np.diff(lap) >= 0) and np.all(np.diff(adj) <= 0)
    assert np.allclose(lap, 1 - adj)
    vals, vecs = exact_eigenpairs(karate, 4, "random_walk")
    P = RandomWalk.from_edge_index(karate.edge_index, dtype=torch.float64)
    Pv = P.matvec(torch.from_numpy(vecs)).numpy()
    assert np.allclose(Pv, vecs * vals, atol=1e-10)  # right eigenvectors of D^-1 A
    assert np.allclose(vecs[:, 0], 34**-0.5)


def test_k_out_of_range(karate):
    with pytest.raises(ValueError, match="k must be"):
        exact_eigenpairs(karate, 34)
