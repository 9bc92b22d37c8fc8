import numpy as np
import pytest
import scipy.sparse.csgraph as csgraph
import torch
from torch_geometric.utils import to_scipy_sparse_matrix

from pyg_spectral.datasets import laplacian_spectrum, path_graph
from pyg_spectral.operators import NormalizedLaplacian


def test_complement_of_scipy_laplacian(karate):
    op = NormalizedLaplacian.from_edge_index(karate.edge_index, dtype=torch.float64)
    # float64 reference: to_scipy_sparse_matrix's float32 ones gave a float32 L (1.6e-8 off), which failed
    # atol=1e-12 for about one random X in five
    A = to_scipy_sparse_matrix(karate.edge_index).toarray().astype(np.float64)
    L = csgraph.laplacian(A, normed=True)
    T = np.eye(34) - L / 2
    X = torch.randn(34, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
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


@pytest.mark.parametrize("presorted", [False, True])
@pytest.mark.parametrize("normalization", ["sym", "rw"])
def test_csr_equals_get_laplacian_entry_for_entry(normalization, presorted):
    # Self-loops, duplicate (multi-)edges, weights and an isolated node (7): the hand-built CSR must be the
    # matrix of torch_geometric.utils.get_laplacian, coalesced. Presorted: a coalesced edge list (self-loops
    # kept), which takes the sort-free path.
    from torch_geometric.utils import coalesce, get_laplacian

    from pyg_spectral.utils.sparse import laplacian_csr

    gen = torch.Generator().manual_seed(0)
    src = torch.randint(0, 7, (60,), generator=gen)
    dst = torch.randint(0, 7, (60,), generator=gen)
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    weight = torch.rand(60, generator=gen, dtype=torch.float64).repeat(2)
    if presorted:
        edge_index, weight = coalesce(edge_index, weight, num_nodes=8)
        assert bool((edge_index[0] == edge_index[1]).any())
    csr, degree = laplacian_csr(edge_index, weight, 8, normalization)
    index, value = get_laplacian(edge_index, weight, normalization=normalization, num_nodes=8)
    ref = torch.sparse_coo_tensor(index, value, (8, 8)).coalesce().to_sparse_csr()
    assert torch.equal(csr.crow_indices(), ref.crow_indices())
    assert torch.equal(csr.col_indices(), ref.col_indices())
    torch.testing.assert_close(csr.values(), ref.values(), rtol=1e-15, atol=1e-15)
    assert csr.to_dense()[7, 7] == 1.0 and degree[7] == 0


@pytest.mark.parametrize("name", ["laplacian", "adjacency", "lazy_adjacency", "random_walk"])
def test_matvec_rows_streams_the_rows_of_matvec(name):
    from pyg_spectral.datasets import grid_graph
    from pyg_spectral.operators import build_operator

    data = grid_graph(7, 9)
    op = build_operator(name, data.edge_index, None, data.num_nodes, dtype=torch.float64)
    x = torch.randn(data.num_nodes, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    full = op.matvec(x)
    parts = [op.matvec_rows(x, start, min(start + 10, data.num_nodes)) for start in range(0, data.num_nodes, 10)]
    torch.testing.assert_close(torch.cat(parts), full, rtol=1e-14, atol=1e-14)
