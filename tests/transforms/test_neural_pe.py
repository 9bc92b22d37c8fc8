"""AddNeuralEigenvectorPE against PyG's AddLaplacianEigenvectorPE and exact eigenvectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import AddLaplacianEigenvectorPE, Compose, NormalizeFeatures

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import cycle_graph, grid_graph, path_graph
from pyg_spectral.metrics import gap_cutoff, subspace_distance
from pyg_spectral.transforms import AddNeuralEigenvectorPE


def reference(data, k):
    """Exact k non-trivial eigenpairs (trivial dropped) of a connected graph, and the gap cutoff."""
    vals, vecs = exact_eigenpairs(data, k + 2)
    return vals[1:], vecs[:, 1:]


@pytest.mark.parametrize("make", [lambda: path_graph(60), lambda: grid_graph(8, 9), lambda: cycle_graph(40)],
                         ids=["path", "grid", "cycle"])
def test_matches_pyg_lappe_subspace(make):
    data = make()
    k = 6
    ours = AddNeuralEigenvectorPE(k, add_eigenvalues=True)(data.clone())
    pyg = AddLaplacianEigenvectorPE(k, is_undirected=True)(data.clone())
    vals, _ = reference(data, k)
    kk = gap_cutoff(vals, k, 1e-8)
    assert subspace_distance(ours.laplacian_eigenvector_pe[:, :kk], pyg.laplacian_eigenvector_pe[:, :kk]) <= 1e-3
    assert np.abs(ours.laplacian_eigenvector_pe_eigenvalues.numpy() - vals[:k]).max() <= 1e-3


def test_cora_lcc_against_pyg(cora_lcc):
    data = Data(edge_index=cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes)
    k = 8
    ours = AddNeuralEigenvectorPE(k)(data.clone())
    pyg = AddLaplacianEigenvectorPE(k, is_undirected=True)(data.clone())
    assert subspace_distance(ours.laplacian_eigenvector_pe, pyg.laplacian_eigenvector_pe) <= 1e-3


def test_deterministic():
    data = grid_graph(7, 7)
    a = AddNeuralEigenvectorPE(5)(data.clone()).laplacian_eigenvector_pe
    b = AddNeuralEigenvectorPE(5)(data.clone()).laplacian_eigenvector_pe
    assert torch.equal(a, b)


@pytest.mark.parametrize("n", [2, 4, 5])
def test_small_graphs_are_zero_padded(n):
    data = path_graph(n)
    pe = AddNeuralEigenvectorPE(5)(data).laplacian_eigenvector_pe
    assert pe.shape == (n, 5)
    nontrivial = n - 1
    assert torch.count_nonzero(pe[:, nontrivial:]) == 0
    vals, vecs = exact_eigenpairs(data, n - 1, dense_below=100) if n > 2 else (None, None)
    if vals is not None:
        assert subspace_distance(pe[:, : n - 2], vecs[:, 1 : n - 1]) <= 1e-8


def test_disconnected_graph_per_component():
    a, b = path_graph(30), cycle_graph(20)
    data = Data(edge_index=torch.cat([a.edge_index, b.edge_index + 30], 1), num_nodes=50)
    k = 6
    out = AddNeuralEigenvectorPE(k, per_component=True, add_eigenvalues=True)(data)
    pe, lam = out.laplacian_eigenvector_pe, out.laplacian_eigenvector_pe_eigenvalues
    # Exact: union of the two spectra without one zero each.
    path_vals = 1 - np.cos(np.pi * np.arange(1, 30) / 29)
    cyc_vals = 1 - np.cos(2 * np.pi * np.arange(1, 20) / 20)
    expected = np.sort(np.concatenate([path_vals, cyc_vals]))[:k]
    assert np.abs(lam.numpy() - expected).max() <= 1e-3
    # every column lives on one component
    for j in range(k):
        on_a, on_b = pe[:30, j].abs().sum() > 0, pe[30:, j].abs().sum() > 0
        assert bool(on_a) != bool(on_b)


@pytest.mark.parametrize("per_component", [False, True])
def test_isolated_nodes_get_eigenvalue_one(per_component):
    # one component of >= 2 nodes: both modes drop its trivial vector and keep both isolated indicators
    data = Data(edge_index=path_graph(4).edge_index, num_nodes=6)
    out = AddNeuralEigenvectorPE(5, per_component=per_component, add_eigenvalues=True)(data)
    lam = out.laplacian_eigenvector_pe_eigenvalues.numpy()
    expected = np.sort(np.concatenate([1 - np.cos(np.pi * np.arange(1, 4) / 3), [1.0, 1.0]]))
    assert np.allclose(lam, expected, atol=1e-8)
    pe = out.laplacian_eigenvector_pe
    indicators = [int(torch.nonzero(pe[:, j])) for j in range(5) if torch.count_nonzero(pe[:, j]) == 1]
    assert sorted(indicators) == [4, 5] and torch.all(pe[4:].sum(0) <= 1)


def test_concatenates_to_x_when_attr_name_is_none():
    data = grid_graph(6, 6)
    data.x = torch.ones(36, 3)
    out = AddNeuralEigenvectorPE(4, attr_name=None)(data)
    assert out.x.shape == (36, 7)


def test_directed_input_is_symmetrized_unless_declared_undirected():
    n = 20
    src = torch.arange(n - 1)
    directed = Data(edge_index=torch.stack([src, src + 1]), num_nodes=n)
    out = AddNeuralEigenvectorPE(3, add_eigenvalues=True)(directed.clone())
    vals, _ = reference(path_graph(n), 3)
    assert np.abs(out.laplacian_eigenvector_pe_eigenvalues.numpy() - vals[:3]).max() <= 1e-3
    from pyg_spectral import GraphInputError

    # the hint names the transform's own knob (the estimator's symmetrize=True is no option here)
    with pytest.raises(GraphInputError, match="is_undirected=False") as info:
        AddNeuralEigenvectorPE(3, is_undirected=True)(directed.clone())
    assert "symmetrize=True" not in str(info.value)


def test_compose_with_planetoid_style_pipeline(cora):
    # Full Cora has 78 components: like PyG's (k + 1 smallest of the whole L_sym, first dropped), the PE is
    # 4 null vectors of L_sym, orthonormal and orthogonal to the whole graph's D^{1/2} 1; x is normalized.
    from torch_geometric.utils import get_laplacian, to_scipy_sparse_matrix

    transform = Compose([NormalizeFeatures(), AddNeuralEigenvectorPE(4, max_steps=200)])
    out = transform(cora.clone())
    pe = out.laplacian_eigenvector_pe.double().numpy()
    assert pe.shape == (cora.num_nodes, 4)
    ei, w = get_laplacian(cora.edge_index, normalization="sym", num_nodes=cora.num_nodes)
    L = to_scipy_sparse_matrix(ei, w.double(), cora.num_nodes)
    assert np.abs(L @ pe).max() <= 1e-6
    assert np.allclose(pe.T @ pe, np.eye(4), atol=1e-6)
    deg = np.bincount(cora.edge_index[0].numpy(), minlength=cora.num_nodes)
    assert np.abs(np.sqrt(deg) @ pe).max() <= 1e-6
    assert torch.allclose(out.x.sum(1)[cora.x.sum(1) > 0], torch.ones(1))


def test_graph_level_dataloader():
    graphs = [grid_graph(4, 5), path_graph(12), cycle_graph(9), path_graph(3)]
    transform = AddNeuralEigenvectorPE(4)
    loader = DataLoader([transform(g) for g in graphs], batch_size=4)
    batch = next(iter(loader))
    assert batch.laplacian_eigenvector_pe.shape == (20 + 12 + 9 + 3, 4)


def test_repr_and_bad_k():
    assert repr(AddNeuralEigenvectorPE(8, tol=1e-3)) == \
        "AddNeuralEigenvectorPE(k=8, attr_name='laplacian_eigenvector_pe', tol=0.001)"
    assert repr(AddNeuralEigenvectorPE(2, per_component=True)) == \
        "AddNeuralEigenvectorPE(k=2, attr_name='laplacian_eigenvector_pe', per_component=True)"
    with pytest.raises(ValueError, match="k must be"):
        AddNeuralEigenvectorPE(0)
    with pytest.raises(ValueError, match="normalized Laplacian"):
        AddNeuralEigenvectorPE(3, operator="adjacency")


def test_eigenvalues_are_opt_in():
    # PyG adds only the PE; the eigenvalues come with add_eigenvalues=True
    out = AddNeuralEigenvectorPE(3)(cycle_graph(10))
    assert set(out.keys()) == {"edge_index", "num_nodes", "laplacian_eigenvector_pe"}
    out = AddNeuralEigenvectorPE(3, add_eigenvalues=True)(cycle_graph(10))
    expected = 1 - np.cos(2 * np.pi * np.array([1, 1, 2]) / 10)
    assert np.abs(out.laplacian_eigenvector_pe_eigenvalues.numpy() - expected).max() <= 1e-4
    with pytest.raises(ValueError, match="needs an attr_name"):
        AddNeuralEigenvectorPE(3, attr_name=None, add_eigenvalues=True)
