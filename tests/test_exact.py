import numpy as np
import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import laplacian_spectrum, path_eigenvectors, path_graph
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.operators import RandomWalk


def test_dense_and_sparse_agree_with_closed_form():
    data = path_graph(60)
    for dense_below in (10**6, 0):
        vals, vecs = exact_eigenpairs(data, 6, "laplacian", dense_below=dense_below)
        assert np.allclose(vals, laplacian_spectrum("path", 60)[:6], atol=1e-10)
        assert subspace_distance(vecs, path_eigenvectors(60, 6)) < 1e-12


def test_orders_and_random_walk_vectors(karate):
    lap, _ = exact_eigenpairs(karate, 4, "laplacian")
    adj, _ = exact_eigenpairs(karate, 4, "adjacency")
    assert np.all(np.diff(lap) >= 0) and np.all(np.diff(adj) <= 0)
    assert np.allclose(lap, 1 - adj)
    vals, vecs = exact_eigenpairs(karate, 4, "random_walk")
    P = RandomWalk.from_edge_index(karate.edge_index, dtype=torch.float64)
    Pv = P.matvec(torch.from_numpy(vecs)).numpy()
    assert np.allclose(Pv, vecs * vals, atol=1e-10)  # right eigenvectors of D^-1 A
    assert np.allclose(vecs[:, 0], 34**-0.5)


def test_k_out_of_range(karate):
    with pytest.raises(ValueError, match="k must be"):
        exact_eigenpairs(karate, 34)


def test_disconnected_graph_is_solved_per_component():
    # 30 disjoint cycles: eigenvalue 0 repeats 30 times. One Lanczos run cannot resolve that multiplicity
    # (eigsh missed 47 of Cora's 78 zeros); the per-component solve matches dense eigh.
    import numpy as np
    import torch
    from torch_geometric.data import Data

    from pyg_spectral import exact_eigenpairs
    from pyg_spectral.datasets import cycle_graph
    from pyg_spectral.metrics import subspace_distance

    parts = [cycle_graph(10 + (i % 5)).edge_index + sum(10 + (j % 5) for j in range(i)) for i in range(30)]
    n = sum(10 + (i % 5) for i in range(30))
    data = Data(edge_index=torch.cat(parts, 1), num_nodes=n)
    vals, vecs = exact_eigenpairs(data, 40, dense_below=0)
    ref_vals, ref_vecs = exact_eigenpairs(data, 40, dense_below=10**6)
    assert (np.abs(vals) < 1e-10).sum() == 30
    assert np.allclose(vals, ref_vals, atol=1e-10)
    assert subspace_distance(vecs[:, :30], ref_vecs[:, :30]) < 1e-10
    assert np.allclose(np.linalg.norm(vecs, axis=0), 1.0)


def test_components_are_those_of_the_weighted_operator():
    # Two 10-cycles joined by a zero-weight bridge are two components (eigenvalue 0 twice), and a directed,
    # weighted, disconnected input is symmetrized as A + A^T with its weights kept (this once failed: the
    # per-component pass symmetrized the edges without their weights).
    import torch
    from torch_geometric.data import Data

    from pyg_spectral.datasets import cycle_graph

    c = cycle_graph(10).edge_index
    ei = torch.cat([c, c + 10, torch.tensor([[0, 10], [10, 0]])], 1)
    w = torch.ones(ei.size(1), dtype=torch.float64)
    w[-2:] = 0.0
    second = 1 - np.cos(2 * np.pi / 10)
    for dense_below in (10**6, 0):
        vals, vecs = exact_eigenpairs(Data(edge_index=ei, edge_weight=w, num_nodes=20), 4, dense_below=dense_below)
        np.testing.assert_allclose(vals, [0, 0, second, second], atol=1e-10)
        assert np.allclose(vecs[:10, :2] @ vecs[10:, :2].T, 0)  # each zero mode lives on one cycle
    one_way = c[:, c[0] < c[1]]  # each of the 10 cycle edges in one direction
    directed = torch.cat([one_way, one_way + 10], 1)
    weight = torch.rand(directed.size(1), dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    vals, _ = exact_eigenpairs(Data(edge_index=directed, edge_weight=weight, num_nodes=21), 5, symmetrize=True)
    A = np.zeros((21, 21))
    np.add.at(A, (directed[0].numpy(), directed[1].numpy()), weight.numpy())
    A = A + A.T
    d = A.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    ref = np.linalg.eigvalsh(np.eye(21) - inv[:, None] * A * inv[None, :])[:5]
    np.testing.assert_allclose(vals, ref, atol=1e-10)
    assert np.isclose(vals[:2], 0).all() and not np.isclose(vals[2], 0)
