"""PyG's own tests of ``AddLaplacianEigenvectorPE`` (test/transforms/test_add_positional_encoding.py:
``test_add_laplacian_eigenvector_pe`` and ``test_eigenvector_permutation_invariance``, repr aside), run
against ``AddNeuralEigenvectorPE``, and its output compared with PyG's transform's on the same graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import AddLaplacianEigenvectorPE
from torch_geometric.utils import get_laplacian, to_scipy_sparse_matrix

from pyg_spectral.datasets import cycle_graph, grid_graph, path_graph
from pyg_spectral.transforms import AddNeuralEigenvectorPE

#: PyG's graphs: a triangle {0, 1, 4} and a path 2-3-5; with edge 2-5, two triangles
TRIANGLE_AND_PATH = torch.tensor([[0, 1, 0, 4, 1, 4, 2, 3, 3, 5],
                                  [1, 0, 4, 0, 4, 1, 3, 2, 5, 3]])
TWO_TRIANGLES = torch.tensor([[0, 1, 0, 4, 1, 4, 2, 3, 3, 5, 2, 5],
                              [1, 0, 4, 0, 4, 1, 3, 2, 5, 3, 5, 2]])


def test_add_laplacian_eigenvector_pe():
    x = torch.randn(6, 4)
    data = Data(x=x, edge_index=TRIANGLE_AND_PATH)

    transform = AddNeuralEigenvectorPE(k=3)
    out = transform(data)
    assert out.laplacian_eigenvector_pe.size() == (6, 3)

    transform = AddNeuralEigenvectorPE(k=3, attr_name=None)
    out = transform(data)
    assert out.x.size() == (6, 4 + 3)

    transform = AddNeuralEigenvectorPE(k=3, attr_name='x')
    out = transform(data)
    assert out.x.size() == (6, 3)

    # Output tests:
    data = Data(x=x, edge_index=TWO_TRIANGLES)

    transform1 = AddNeuralEigenvectorPE(k=1, is_undirected=True)
    transform2 = AddNeuralEigenvectorPE(k=1, is_undirected=False)

    # Clustering test with first non-trivial eigenvector (Fiedler vector)
    pe = transform1(data).laplacian_eigenvector_pe
    pe_cluster_1 = pe[[0, 1, 4]]
    pe_cluster_2 = pe[[2, 3, 5]]
    assert not torch.allclose(pe_cluster_1, pe_cluster_2)
    assert torch.allclose(pe_cluster_1, pe_cluster_1.mean())
    assert torch.allclose(pe_cluster_2, pe_cluster_2.mean())

    pe = transform2(data).laplacian_eigenvector_pe
    pe_cluster_1 = pe[[0, 1, 4]]
    pe_cluster_2 = pe[[2, 3, 5]]
    assert not torch.allclose(pe_cluster_1, pe_cluster_2)
    assert torch.allclose(pe_cluster_1, pe_cluster_1.mean())
    assert torch.allclose(pe_cluster_2, pe_cluster_2.mean())


@pytest.mark.parametrize("seed", range(5))
def test_eigenvector_permutation_invariance(seed):
    torch.manual_seed(seed)
    data = Data(edge_index=TRIANGLE_AND_PATH, num_nodes=6)

    perm = torch.randperm(data.num_nodes)
    transform = AddNeuralEigenvectorPE(
        k=2,
        is_undirected=True,
        attr_name='x',
    )
    out1 = transform(data)

    transform = AddNeuralEigenvectorPE(
        k=2,
        is_undirected=True,
        attr_name='x',
    )
    out2 = transform(data.subgraph(perm))

    assert torch.allclose(out1.x[perm].abs(), out2.x.abs(), atol=1e-6)


# ------------------------------------------------------------- against PyG's own output
def laplacian(data):
    """L_sym in float64 (get_laplacian computes in the weights' dtype)."""
    weight = torch.ones(data.edge_index.size(1), dtype=torch.float64)
    ei, w = get_laplacian(data.edge_index, weight, normalization="sym", num_nodes=data.num_nodes)
    return to_scipy_sparse_matrix(ei, w, data.num_nodes)


def trivial(data):
    """The whole graph's unit D^{1/2} 1 (the vector this transform drops)."""
    deg = np.bincount(data.edge_index[0].numpy(), minlength=data.num_nodes).astype(float)
    return np.sqrt(deg) / np.sqrt(deg.sum())


def disjoint(*graphs, isolated=0):
    ei, offset = [], 0
    for g in graphs:
        ei.append(g.edge_index + offset)
        offset += g.num_nodes
    return Data(edge_index=torch.cat(ei, 1), num_nodes=offset + isolated)


GRAPHS = {
    "two triangles": lambda: Data(edge_index=TWO_TRIANGLES, num_nodes=6),
    "triangle and path": lambda: Data(edge_index=TRIANGLE_AND_PATH, num_nodes=6),
    "three parts and isolated nodes": lambda: disjoint(path_graph(7), cycle_graph(5), grid_graph(2, 3), isolated=2),
    # from 100 nodes PyG runs ARPACK (eigsh): v0 fixed so that PyG's side is reproducible too
    "path and grid, 110 nodes": lambda: disjoint(path_graph(50), grid_graph(6, 10)),
    "grid, 110 nodes": lambda: grid_graph(10, 11),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_same_eigenvalues_and_space_as_pyg(name):
    # PyG: the k + 1 smallest eigenvectors of the whole L_sym, the first dropped. Here: the same eigenvalues
    # (Rayleigh quotients of the columns) and PyG's PE inside span(D^{1/2} 1, ours) (which null vector PyG
    # drops is arbitrary inside a repeated 0). k is chosen with a gap after the (k+1)-th eigenvalue.
    data = GRAPHS[name]()
    n = data.num_nodes
    L = laplacian(data)
    spectrum = np.linalg.eigvalsh(L.toarray())
    k = next(kk for kk in (4, 3, 5, 2, 1) if kk + 1 < n and spectrum[kk + 1] - spectrum[kk] > 1e-3)
    v0 = np.random.default_rng(0).random(n)
    ours = AddNeuralEigenvectorPE(k, is_undirected=True, dtype=torch.float64, tol=1e-10, v0=v0)(data.clone())
    pyg = AddLaplacianEigenvectorPE(k, is_undirected=True, v0=v0)(data.clone())
    u = ours.laplacian_eigenvector_pe.numpy()
    p = pyg.laplacian_eigenvector_pe.double().numpy()
    assert np.allclose(u.T @ u, np.eye(k), atol=1e-8)
    assert np.abs(trivial(data) @ u).max() <= 1e-8
    rq_ours = np.sort(np.einsum("ij,ij->j", u, L @ u))
    rq_pyg = np.sort(np.einsum("ij,ij->j", p, L @ p) / np.einsum("ij,ij->j", p, p))
    assert np.allclose(rq_ours, spectrum[1:k + 1], atol=1e-8)
    assert np.allclose(rq_ours, rq_pyg, atol=1e-5)  # PyG's own output is float32
    q, _ = np.linalg.qr(np.c_[trivial(data), u])
    residual = p - q @ (q.T @ p)
    assert np.abs(residual).max() <= 1e-5


def test_distinct_eigenvalues_give_pyg_columns_up_to_sign():
    # A connected graph with a simple spectrum: each column is PyG's up to sign, node for node.
    gen = torch.Generator().manual_seed(2)
    ei = path_graph(40).edge_index
    extra = torch.randint(0, 40, (2, 12), generator=gen)
    ei = torch.cat([ei, extra, extra.flip(0)], 1)
    data = Data(edge_index=ei, num_nodes=40)
    k = 5
    ours = AddNeuralEigenvectorPE(k, dtype=torch.float64, tol=1e-10)(data.clone()).laplacian_eigenvector_pe
    pyg = AddLaplacianEigenvectorPE(k)(data.clone()).laplacian_eigenvector_pe.double()
    spectrum = np.linalg.eigvalsh(laplacian(data).toarray())
    assert np.diff(spectrum[: k + 2]).min() > 1e-2
    assert torch.allclose(ours.abs(), pyg.abs(), atol=1e-5)
    perm = torch.randperm(40, generator=gen)
    permuted = AddNeuralEigenvectorPE(k, dtype=torch.float64, tol=1e-10)(data.subgraph(perm)).laplacian_eigenvector_pe
    assert torch.allclose(ours[perm], permuted, atol=1e-6)  # the sign rule is permutation-equivariant too


def test_no_edges_drops_one_indicator_as_pyg():
    data = Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=5)
    ours = AddNeuralEigenvectorPE(3, add_eigenvalues=True)(data.clone())
    pyg = AddLaplacianEigenvectorPE(3, is_undirected=True)(data.clone()).laplacian_eigenvector_pe
    assert torch.equal(ours.laplacian_eigenvector_pe_eigenvalues, torch.ones(3, dtype=torch.float64))
    assert torch.equal(ours.laplacian_eigenvector_pe.abs().sum(0), torch.ones(3))
    assert torch.equal(ours.laplacian_eigenvector_pe.abs().sum(1) > 0, pyg.abs().sum(1) > 0)


@pytest.mark.parametrize("is_undirected", [True, False])
def test_duplicate_edges_are_summed_as_pyg(is_undirected):
    # get_laplacian sums duplicate edges; symmetrizing (is_undirected=False) must not merge them
    ei = grid_graph(4, 5).edge_index
    twice = torch.cat([ei, ei[:, :6], ei[:, :6].flip(0)], 1)  # three edges doubled, both ways
    data = Data(edge_index=twice, num_nodes=20)
    L = laplacian(data)
    vals, vecs = np.linalg.eigh(L.toarray())
    ours = AddNeuralEigenvectorPE(2, is_undirected=is_undirected, dtype=torch.float64, tol=1e-10)(data)
    assert np.diff(vals[:4]).min() > 1e-3
    assert np.allclose(np.abs(ours.laplacian_eigenvector_pe.numpy()), np.abs(vecs[:, 1:3]), atol=1e-8)
