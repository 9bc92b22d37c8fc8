"""BlockDiagonalLaplacian: per-graph deflation, Rayleigh-Ritz and Chebyshev filtering on a batch."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from pyg_spectral.datasets import cycle_graph, grid_graph, path_graph
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.operators import BlockDiagonalLaplacian, NormalizedLaplacian


def _graphs():
    star = Data(edge_index=torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]]), num_nodes=4)
    edge = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)
    big = [grid_graph(6, 7), cycle_graph(40), path_graph(33), grid_graph(4, 12)]
    return [Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in big[:2]] + [star, edge] + \
        [Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in big[2:]]


def _dense_laplacian(g: Data) -> np.ndarray:
    return NormalizedLaplacian.from_edge_index(g.edge_index, None, g.num_nodes, dtype=torch.float64) \
        .laplacian_scipy().toarray()


@pytest.fixture(scope="module")
def batch():
    graphs = _graphs()
    b = Batch.from_data_list(graphs)
    return graphs, b, BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)


def _blocks(x, b):
    return [x[b.ptr[i]:b.ptr[i + 1]] for i in range(b.num_graphs)]


def test_deflate_removes_each_trivial_vector(batch):
    graphs, b, op = batch
    x = op.deflate(torch.randn(b.num_nodes, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    for g, block in zip(graphs, _blocks(x, b)):
        lam, vec = np.linalg.eigh(_dense_laplacian(g))
        assert abs(lam[0]) < 1e-12
        assert np.abs(vec[:, 0] @ block.numpy()).max() < 1e-12


def test_matmul_is_blockwise(batch):
    graphs, b, op = batch
    x = torch.randn(b.num_nodes, 3, dtype=torch.float64)
    for g, block, lx in zip(graphs, _blocks(x, b), _blocks(op.matmul(x), b)):
        np.testing.assert_allclose(lx.numpy(), _dense_laplacian(g) @ block.numpy(), atol=1e-12)


def test_rayleigh_ritz_is_exact_on_small_graphs_and_orthonormal(batch):
    graphs, b, op = batch
    m = 6
    x = torch.randn(b.num_nodes, m, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    theta, u = op.rayleigh_ritz(x)
    assert theta.shape == (len(graphs), m) and u.shape == (b.num_nodes, m)
    for i, (g, block) in enumerate(zip(graphs, _blocks(u, b))):
        lam = np.linalg.eigvalsh(_dense_laplacian(g))
        finite = torch.isfinite(theta[i])
        r = int(finite.sum())
        assert r == min(m, g.num_nodes - 1)
        gram = block[:, :r].T @ block[:, :r]
        assert torch.allclose(gram, torch.eye(r, dtype=torch.float64), atol=1e-10)
        assert torch.all(block[:, r:] == 0)
        if g.num_nodes <= m + 1:  # the span is the whole complement of the trivial vector: exact
            np.testing.assert_allclose(theta[i, :r].numpy(), lam[1:r + 1], atol=1e-12)
        else:  # Ritz values interlace: theta_j >= lambda_j
            assert np.all(theta[i, :r].numpy() >= lam[1:r + 1] - 1e-12)
        # Ritz pairs: residual orthogonal to the span
        lu = torch.from_numpy(_dense_laplacian(g)) @ block[:, :r]
        res = lu - block[:, :r] * theta[i, :r]
        assert (block[:, :r].T @ res).abs().max() < 1e-10


def test_chebyshev_filter_matches_dense_polynomial(batch):
    graphs, b, op = batch
    x = torch.randn(b.num_nodes, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    cutoff = torch.linspace(0.2, 1.5, b.num_graphs, dtype=torch.float64)
    degree = 7
    y = op.chebyshev_filter(x, cutoff, degree)
    for i, (g, block, out) in enumerate(zip(graphs, _blocks(x, b), _blocks(y, b))):
        lam, vec = np.linalg.eigh(_dense_laplacian(g))
        a = 1.0 - float(cutoff[i])
        arg = (2 * (1 - lam) - (a - 1)) / (a + 1)
        poly = np.polynomial.chebyshev.chebval(arg, [0] * degree + [1])
        expected = vec @ np.diag(poly) @ vec.T @ block.numpy()
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
        # damped above the cutoff, growing below it
        assert np.all(np.abs(poly[lam >= float(cutoff[i]) + 1e-12]) <= 1 + 1e-9)


def test_growth_bound_lowers_the_cutoff(batch):
    graphs, b, op = batch
    x = op.deflate(torch.randn(b.num_nodes, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    low = torch.zeros(b.num_graphs, dtype=torch.float64)
    y = op.chebyshev_filter(x, torch.full((b.num_graphs,), 1.9, dtype=torch.float64), 16, low=low, max_growth=1e3)
    for block, out in zip(_blocks(x, b), _blocks(y, b)):
        assert out.norm() <= 1e3 * block.norm() * (1 + 1e-9)


@pytest.mark.parametrize("initial_ritz", [True, False])
def test_subspace_iteration_converges_to_exact_eigenpairs(batch, initial_ritz):
    graphs, b, op = batch
    m, k = 10, 4
    x = torch.randn(b.num_nodes, m, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    theta, u = op.subspace_iteration(x, degree=16, rounds=12, initial_ritz=initial_ritz)
    for i, (g, block) in enumerate(zip(graphs, _blocks(u, b))):
        lam, vec = np.linalg.eigh(_dense_laplacian(g))
        r = min(k, g.num_nodes - 1)
        np.testing.assert_allclose(theta[i, :r].numpy(), lam[1:r + 1], atol=1e-8)
        # compare eigenspaces up to a gap (cycles have double eigenvalues)
        kk = max(j for j in range(1, r + 1) if j == g.num_nodes - 1 or lam[j + 1] - lam[j] > 1e-6)
        assert subspace_distance(block[:, :kk], vec[:, 1:kk + 1]) < 1e-8


def test_fix_signs_is_the_per_graph_sign_rule(batch):
    from pyg_spectral.spectrum import fix_signs

    graphs, b, op = batch
    x = torch.randn(b.num_nodes, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    _, raw = op.subspace_iteration(x, degree=4, rounds=1)
    _, signed = op.subspace_iteration(x, degree=4, rounds=1, fix_signs=True)
    for raw_block, signed_block in zip(_blocks(raw, b), _blocks(signed, b)):
        assert torch.equal(signed_block, fix_signs(raw_block))
    assert not torch.equal(signed, raw)  # some column was flipped


def test_float32_subspace_iteration_reaches_float32_accuracy(batch):
    # Shorter rounds (the growth a round may reach is bounded by 1e4 in float32), same answer to ~1e-6.
    graphs, b, _ = batch
    op = BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs, dtype=torch.float32)
    m, k = 10, 4
    x = torch.randn(b.num_nodes, m, generator=torch.Generator().manual_seed(4))
    theta, u = op.subspace_iteration(x, degree=6, rounds=40)
    assert theta.dtype == u.dtype == torch.float32
    for i, (g, block) in enumerate(zip(graphs, _blocks(u, b))):
        lam, vec = np.linalg.eigh(_dense_laplacian(g))
        r = min(k, g.num_nodes - 1)
        np.testing.assert_allclose(theta[i, :r].double().numpy(), lam[1:r + 1], atol=2e-6)
        kk = max(j for j in range(1, r + 1) if j == g.num_nodes - 1 or lam[j + 1] - lam[j] > 1e-6)
        assert subspace_distance(block[:, :kk].double(), vec[:, 1:kk + 1]) < 1e-6


def test_padded_layout_round_trips_and_keeps_padding_zero(batch):
    graphs, b, op = batch
    x = torch.randn(b.num_nodes, 3, dtype=torch.float64)
    xp = op.to_padded(x)
    assert xp.shape == (op.padded_size, 3) and torch.equal(op.from_padded(xp), x)
    assert int((xp.abs().sum(1) > 0).sum()) == b.num_nodes  # every padding row is zero
    # the padded Laplacian is the node one, permuted: L x in either layout agrees
    assert torch.allclose(op.from_padded(torch.sparse.mm(op.padded_laplacian, xp)), op.matmul(x), atol=1e-14)
    for graphs_in_group, first, count, n_max in op.layout:
        assert int(op.sizes[graphs_in_group].max()) == n_max and graphs_in_group.numel() == count


def test_bad_batches_raise():
    b = Batch.from_data_list([Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)])
    with pytest.raises(ValueError, match="dtypes"):
        BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs, dtype=torch.float16)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite, non-negative"):
            BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs, torch.tensor([1.0, bad]))
    # an isolated node has no trivial vector D^{1/2} 1
    b = Batch.from_data_list([Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3)])
    with pytest.raises(ValueError, match="isolated"):
        BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)
    b = Batch.from_data_list([Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=1),
                              Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)])
    with pytest.raises(ValueError, match="at least two nodes"):
        BlockDiagonalLaplacian(b.edge_index, b.num_nodes, b.batch, b.num_graphs)


def test_repr(batch):
    assert "num_graphs=6" in repr(batch[2])
    assert math.isfinite(float(batch[2].trivial.sum()))


def test_workspace_blocks_give_the_same_result_and_leave_the_input(batch):
    from pyg_spectral.utils.workspace import Workspace

    graphs, b, op = batch
    ws = Workspace()
    x = torch.randn(b.num_nodes, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    kept = x.clone()
    fresh = op.subspace_iteration(x, degree=5, rounds=2, initial_ritz=False, fix_signs=True)
    # a larger batch first leaves stale values in the kept blocks; they must not leak into the next one
    big = Batch.from_data_list(graphs + graphs)
    big_op = BlockDiagonalLaplacian(big.edge_index, big.num_nodes, big.batch, big.num_graphs)
    big_op.subspace_iteration(torch.randn(big.num_nodes, 6, dtype=torch.float64), 5, 2, workspace=ws)
    reused = op.subspace_iteration(x, degree=5, rounds=2, initial_ritz=False, fix_signs=True, workspace=ws)
    assert torch.equal(x, kept)
    assert torch.equal(fresh[0], reused[0]) and torch.equal(fresh[1], reused[1])
