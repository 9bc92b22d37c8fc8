import numpy as np
import pytest
import torch
from torch_geometric.utils import to_dense_adj

from pyg_spectral.exceptions import GraphInputError
from pyg_spectral.operators import NormalizedAdjacency, RandomWalk


def test_matvec_is_row_stochastic(karate):
    op = RandomWalk.from_edge_index(karate.edge_index, dtype=torch.float64)
    A = to_dense_adj(karate.edge_index)[0].double()
    P = A / A.sum(1, keepdim=True)
    X = torch.randn(34, 4, dtype=torch.float64)
    assert torch.allclose(op.matvec(X), P @ X, atol=1e-12)
    assert torch.allclose(op.matvec(torch.ones(34, 1, dtype=torch.float64)), torch.ones(34, 1, dtype=torch.float64))


def test_self_adjoint_in_degree_measure(karate):
    op = RandomWalk.from_edge_index(karate.edge_index, dtype=torch.float64)
    pi = op.measure
    assert pi.sum().item() == pytest.approx(1.0)
    f, g = torch.randn(34, 1, dtype=torch.float64), torch.randn(34, 1, dtype=torch.float64)
    lhs = (pi[:, None] * f * op.matvec(g)).sum()
    rhs = (pi[:, None] * op.matvec(f) * g).sum()
    assert lhs.item() == pytest.approx(rhs.item(), abs=1e-12)


def test_same_spectrum_as_normalized_adjacency(karate):
    rw = RandomWalk.from_edge_index(karate.edge_index, dtype=torch.float64)
    adj = NormalizedAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    S = rw.symmetric_matrix().toarray()
    assert np.allclose(S, S.T)
    assert np.allclose(np.linalg.eigvalsh(S), np.linalg.eigvalsh(adj.symmetric_matrix().toarray()), atol=1e-12)
    vec, lam = rw.trivial_mode()
    assert lam == 1.0 and torch.allclose(vec, torch.full_like(vec, 34 ** -0.5))


def test_isolated_nodes_rejected():
    with pytest.raises(GraphInputError, match="isolated"):
        RandomWalk.from_edge_index(torch.tensor([[0, 1], [1, 0]]), num_nodes=3)
