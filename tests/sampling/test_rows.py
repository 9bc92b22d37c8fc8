"""OperatorRows: (Tf) at a batch equals the rows of the full matvec."""
import pytest
import torch

from pyg_spectral.operators import build_operator
from pyg_spectral.sampling import OperatorRows


@pytest.mark.parametrize("operator", ["laplacian", "adjacency", "lazy_adjacency", "random_walk"])
def test_rows_match_full_matvec(karate, operator):
    op = build_operator(operator, karate.edge_index, None, karate.num_nodes, dtype=torch.float64)
    f = torch.randn(karate.num_nodes, 5, dtype=torch.float64)
    n_id = torch.tensor([0, 3, 3, 33, 7, 0])
    u_id, apply = OperatorRows(op).neighbourhood(n_id)
    assert torch.allclose(apply(f[u_id]), op.matvec(f)[n_id], atol=1e-12)
    assert u_id.numel() < karate.num_nodes  # only the neighbourhood is needed


def test_polynomial_filter_is_full_batch_only(karate):
    op = build_operator("laplacian", karate.edge_index, None, karate.num_nodes, filter_degree=2)
    with pytest.raises(ValueError, match="full-batch only"):
        OperatorRows(op)
