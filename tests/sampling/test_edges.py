"""EdgeSampler: scaling constants and bad input."""
import pytest
import torch

from pyg_spectral import GraphInputError
from pyg_spectral.datasets import path_graph
from pyg_spectral.operators import build_operator
from pyg_spectral.sampling import EdgeSampler


def test_weighted_constants_have_closed_form(karate):
    op = build_operator("laplacian", karate.edge_index, None, karate.num_nodes, dtype=torch.float64)
    s = EdgeSampler(op, 10, mode="weighted")
    d = op.degree
    # T = I - L/2: T_ij = a_ij / (2 sqrt(d_i d_j)), coefficient T_ij / p(j|i) = sqrt(d_i / d_j) / 2.
    assert torch.allclose(s.coef, 0.5 * (d[s.heads] / d[s.tails]).sqrt())
    assert torch.allclose(s.row_weight, (d.sum() / (karate.num_nodes * d)))
    assert torch.allclose(s.diag, torch.full_like(s.diag, 0.5))


def test_uniform_constants(karate):
    op = build_operator("adjacency", karate.edge_index, None, karate.num_nodes, dtype=torch.float64)
    s = EdgeSampler(op, 10, mode="uniform")
    d = op.degree
    assert torch.allclose(s.coef, (d[s.heads] / d[s.tails]).sqrt())  # A_ij / sqrt(d_i d_j) * d_i
    batch = s.sample(dtype=torch.float64)
    assert batch.heads.shape == batch.tails.shape == batch.weight.shape == (10,)


def test_zero_degree_nodes_raise():
    data = path_graph(6)
    op = build_operator("laplacian", data.edge_index, None, 8)  # nodes 6, 7 isolated
    with pytest.raises(GraphInputError, match="degree 0"):
        EdgeSampler(op, 4)


def test_bad_mode(karate):
    op = build_operator("laplacian", karate.edge_index, None, karate.num_nodes)
    with pytest.raises(ValueError, match="Unknown edge sampling mode"):
        EdgeSampler(op, 4, mode="importance")


def test_empty_edge_set_raises():
    # self-loops only: no operator to sample edges of (the operator refuses it, as a graph without edges)
    with pytest.raises(GraphInputError, match="no edges"):
        EdgeSampler(build_operator("laplacian", torch.tensor([[0, 1], [0, 1]]), None, 2), 4)
