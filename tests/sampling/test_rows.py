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


@pytest.mark.parametrize("operator", ["laplacian", "random_walk"])
def test_chunked_moments_are_the_whole_graph_moments(karate, operator):
    """f^T R f and f^T R T f summed over node chunks equal the full-graph products, whatever the chunk size
    (the last chunk shorter), from float32 rows too (accumulated in float64)."""
    from pyg_spectral.spectrum.ritz import ritz_moments

    op = build_operator(operator, karate.edge_index, None, karate.num_nodes, dtype=torch.float64)
    f = torch.randn(karate.num_nodes, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    gram, cross = ritz_moments(f, op.matvec(f), op.measure)
    for chunk in (1, 5, 34, 100):
        m, q = OperatorRows(op).moments(f, op.measure, chunk)
        assert torch.allclose(m, gram, atol=1e-13) and torch.allclose(q, cross, atol=1e-13)
    m, q = OperatorRows(op).moments(lambda ids: 2 * f[ids], op.measure, 5)  # rows from a function of the ids
    assert torch.allclose(m, 4 * gram, atol=1e-12) and torch.allclose(q, 4 * cross, atol=1e-12)
    m, q = OperatorRows(op).moments(f.float(), op.measure, 7)
    assert m.dtype == torch.float64 and torch.allclose(q, cross, atol=1e-6)
    with pytest.raises(ValueError, match="chunk must be a positive"):
        OperatorRows(op).moments(f, op.measure, 0)
    with pytest.raises(ValueError, match=r"rows of every node \(n = 34\), got 34 weights and rows \(30, 4\)"):
        OperatorRows(op).moments(f[:30], op.measure)  # not every node: no silent partial sums
    with pytest.raises(ValueError, match="got 30 weights"):
        OperatorRows(op).moments(f, op.measure[:30])
