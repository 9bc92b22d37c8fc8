import numpy as np
import pytest
import scipy.linalg
import torch

from pyg_spectral.datasets import cycle_graph, grid_graph, laplacian_spectrum, path_eigenvectors, path_graph
from pyg_spectral.operators import NormalizedLaplacian


def dense_laplacian_spectrum(data):
    op = NormalizedLaplacian.from_edge_index(data.edge_index, num_nodes=data.num_nodes, dtype=torch.float64)
    return np.sort(2 - 2 * scipy.linalg.eigvalsh(op.symmetric_matrix().toarray()))


@pytest.mark.parametrize("data,kind,shape", [(path_graph(17), "path", (17,)), (cycle_graph(15), "cycle", (15,)),
                                             (grid_graph(5, 7, periodic=True), "torus", (5, 7))])
def test_closed_forms(data, kind, shape):
    assert np.allclose(dense_laplacian_spectrum(data), laplacian_spectrum(kind, *shape), atol=1e-12)


def test_path_eigenvectors():
    op = NormalizedLaplacian.from_edge_index(path_graph(20).edge_index, dtype=torch.float64)
    L = 2 * (np.eye(20) - op.symmetric_matrix().toarray())
    U = path_eigenvectors(20, 6)
    lam = laplacian_spectrum("path", 20)[:6]
    assert np.allclose(L @ U, U * lam, atol=1e-12)


def test_grid_sizes():
    g = grid_graph(4, 6)
    assert g.num_nodes == 24 and g.edge_index.size(1) == 2 * (4 * 5 + 3 * 6)
    assert grid_graph(4, 6, periodic=True).edge_index.size(1) == 2 * 2 * 24
    with pytest.raises(ValueError):
        laplacian_spectrum("star", 5)
