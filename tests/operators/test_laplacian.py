import numpy as np
import pytest
import scipy.sparse.csgraph as csgraph
import torch
from torch_geometric.utils import to_scipy_sparse_matrix

from pyg_spectral.datasets import laplacian_spectrum, path_graph
from pyg_spectral.operators import NormalizedLaplacian


def test_complement_of_scipy_laplacian(karate):
    op = NormalizedLaplacian.from_edge_index(karate.edge_index, dtype=torch.float64)
    L = csgraph.laplacian(to_scipy_sparse_matrix(karate.edge_index).toarray(), normed=True)
    T = np.eye(34) - L / 2
    X = torch.randn(34, 3, dtype=torch.float64)
    assert np.allclose(op.matvec(X).numpy(), T @ X.numpy(), atol=1e-12)
    assert op.is_psd and not op.descending


def test_eigenvalue_map_on_path():
    op = NormalizedLaplacian.from_edge_index(path_graph(12).edge_index, dtype=torch.float64)
    theta = np.linalg.eigvalsh(op.symmetric_matrix().toarray())[::-1]  # top of T first
    lam = op.to_original(torch.from_numpy(theta.copy())).numpy()
    assert np.allclose(lam, laplacian_spectrum("path", 12), atol=1e-12)  # ascending bottom of L_sym
    assert op.from_original(torch.tensor(0.0)).item() == pytest.approx(1.0)


def test_trivial_mode(karate):
    op = NormalizedLaplacian.from_edge_index(karate.edge_index, dtype=torch.float64)
    vec, lam = op.trivial_mode()
    assert lam == pytest.approx(0.0)
    d = op.degree
    assert torch.allclose(vec, d.sqrt() / d.sqrt().norm())


def test_isolated_node_follows_pyg_convention():
    ei = torch.tensor([[0, 1], [1, 0]])  # node 2 isolated
    op = NormalizedLaplacian.from_edge_index(ei, num_nodes=3, dtype=torch.float64)
    L = 2 * (np.eye(3) - op.symmetric_matrix().toarray())  # T = I - L/2
    assert L[2, 2] == pytest.approx(1.0)  # PyG's get_laplacian puts 1 on an isolated node's diagonal
    assert not np.isnan(L).any()
