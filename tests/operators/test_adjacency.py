import numpy as np
import pytest
import torch
from torch_geometric.utils import to_dense_adj

from pyg_spectral.operators import LazyAdjacency, NormalizedAdjacency


def dense_normalized_adjacency(data):
    A = to_dense_adj(data.edge_index, max_num_nodes=data.num_nodes)[0].double()
    d = A.sum(1)
    dinv = torch.where(d > 0, d.rsqrt(), torch.zeros_like(d))
    return dinv[:, None] * A * dinv[None, :]


@pytest.mark.parametrize("cls,expected", [(NormalizedAdjacency, lambda A: A),
                                          (LazyAdjacency, lambda A: 0.5 * (torch.eye(len(A), dtype=A.dtype) + A))])
def test_matvec_matches_dense(karate, cls, expected):
    op = cls.from_edge_index(karate.edge_index, dtype=torch.float64)
    X = torch.randn(karate.num_nodes, 5, dtype=torch.float64)
    T = expected(dense_normalized_adjacency(karate))
    assert torch.allclose(op.matvec(X), T @ X, atol=1e-12)
    assert torch.allclose(op @ X, T @ X, atol=1e-12)
    assert np.allclose(op.symmetric_matrix().toarray(), T.numpy(), atol=1e-12)


def test_spectrum_and_psd(karate):
    adj = NormalizedAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    lazy = LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    w_adj = np.linalg.eigvalsh(adj.symmetric_matrix().toarray())
    w_lazy = np.linalg.eigvalsh(lazy.symmetric_matrix().toarray())
    assert not adj.is_psd and w_adj.min() < 0
    assert lazy.is_psd and w_lazy.min() >= -1e-12
    assert np.allclose(w_lazy, (1 + w_adj) / 2)
    assert w_adj.max() == pytest.approx(1.0)
    # Eigenvalues map back to the user's operator unchanged.
    assert float(adj.to_original(torch.tensor(0.3))) == pytest.approx(0.3)


@pytest.mark.parametrize("cls", [NormalizedAdjacency, LazyAdjacency])
def test_trivial_mode_is_eigenvector(karate, cls):
    op = cls.from_edge_index(karate.edge_index, dtype=torch.float64)
    vec, lam = op.trivial_mode()
    assert lam == pytest.approx(1.0)
    assert torch.allclose(op.matvec(vec[:, None])[:, 0], vec, atol=1e-12)
    assert vec.norm() == pytest.approx(1.0)


def test_weighted_edges_and_duplicates():
    ei = torch.tensor([[0, 1, 1, 2, 0, 1], [1, 0, 2, 1, 1, 0]])
    w = torch.tensor([1.0, 1.0, 2.0, 2.0, 0.5, 0.5], dtype=torch.float64)
    op = NormalizedAdjacency.from_edge_index(ei, w, dtype=torch.float64)
    A = torch.tensor([[0, 1.5, 0], [1.5, 0, 2], [0, 2, 0]], dtype=torch.float64)  # duplicates summed
    d = A.sum(1)
    T = A / torch.sqrt(d[:, None] * d[None, :])
    assert torch.allclose(op.matvec(torch.eye(3, dtype=torch.float64)), T, atol=1e-12)


def test_self_loops_are_dropped_like_get_laplacian():
    ei = torch.tensor([[0, 1, 1, 2, 2], [1, 0, 2, 1, 2]])
    op = NormalizedAdjacency.from_edge_index(ei, dtype=torch.float64)
    assert torch.allclose(op.degree, torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64))


def test_to_changes_dtype(karate):
    op = LazyAdjacency.from_edge_index(karate.edge_index).to(dtype=torch.float64)
    assert op.dtype == torch.float64
    assert op.matvec(torch.randn(34, 2, dtype=torch.float64)).dtype == torch.float64
    assert "LazyAdjacency(num_nodes=34" in repr(op)
