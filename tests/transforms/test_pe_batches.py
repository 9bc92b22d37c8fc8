"""AddNeuralEigenvectorPE on a Batch: each graph keeps its own PE through to_data_list() and indexing;
precompute_pe; the inductive mode's whole-graph default; fit on an instance or on the class."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import AddLaplacianEigenvectorPE

from pyg_spectral.datasets import cycle_graph, grid_graph, path_graph
from pyg_spectral.transforms import AddNeuralEigenvectorPE, precompute_pe


def graphs():
    two_parts = Data(edge_index=torch.cat([cycle_graph(9).edge_index, path_graph(6).edge_index + 9], 1),
                     num_nodes=16)  # a 9-cycle, a 6-path and one isolated node
    three_parts = Data(edge_index=torch.cat([path_graph(4).edge_index, cycle_graph(5).edge_index + 4,
                                             path_graph(2).edge_index + 9], 1), num_nodes=11)
    no_edges = Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=4)
    out = [grid_graph(4, 5), two_parts, path_graph(3), cycle_graph(11), three_parts, no_edges]
    for i, g in enumerate(out):
        g.x = torch.full((g.num_nodes, 2), float(i))
        g.y = torch.tensor([i])
    return out


def rayleigh_quotients(pe, data):
    """u_j^T L_sym u_j of each column (0 for a zero-padded column), L_sym in float64."""
    from torch_geometric.utils import get_laplacian, to_scipy_sparse_matrix

    w = torch.ones(data.edge_index.size(1), dtype=torch.float64)
    ei, lw = get_laplacian(data.edge_index, w, normalization="sym", num_nodes=data.num_nodes)
    L = to_scipy_sparse_matrix(ei, lw, data.num_nodes).toarray()
    u = pe.double().numpy()
    return np.einsum("ij,ij->j", u, L @ u)


@pytest.mark.parametrize("attr_name,add_eigenvalues", [("laplacian_eigenvector_pe", False),
                                                      ("laplacian_eigenvector_pe", True), (None, False)])
def test_batch_to_data_list_and_indexing_keep_each_graphs_pe(attr_name, add_eigenvalues):
    data = graphs()
    pe = AddNeuralEigenvectorPE(3, attr_name=attr_name, add_eigenvalues=add_eigenvalues)
    batch = Batch.from_data_list([g.clone() for g in data])
    out = pe(batch)
    singles = [pe(g.clone()) for g in data]
    key = attr_name or "x"
    parts = out.to_data_list()
    assert len(parts) == len(data)
    for i, (part, single) in enumerate(zip(parts, singles)):
        assert torch.equal(part[key], single[key])
        assert torch.equal(out[i][key], single[key])
        assert torch.equal(part.y, data[i].y) and torch.equal(part.edge_index, data[i].edge_index)
        if add_eigenvalues:
            assert torch.equal(part[attr_name + "_eigenvalues"], single[attr_name + "_eigenvalues"])
    assert [g[key].size(0) for g in out[1:3]] == [16, 3]  # index_select too
    # the input batch is untouched (its slice dictionaries are not shared with the output)
    assert "laplacian_eigenvector_pe" not in batch._slice_dict and batch.x.size(1) == 2
    assert all(g.x.size(1) == 2 for g in batch.to_data_list())


def test_batch_without_x_and_concatenation():
    data = [Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in graphs()]
    out = AddNeuralEigenvectorPE(2, attr_name=None)(Batch.from_data_list(data))
    assert [g.x.shape for g in out.to_data_list()] == [(g.num_nodes, 2) for g in data]


def test_precompute_pe_matches_one_by_one_and_loads():
    data = graphs()
    pe = AddNeuralEigenvectorPE(3)
    out = precompute_pe(data, pe, batch_size=3)
    assert len(out) == len(data)
    for got, g in zip(out, data):
        assert torch.equal(got.laplacian_eigenvector_pe, pe(g.clone()).laplacian_eigenvector_pe)
        assert torch.equal(got.x, g.x) and torch.equal(got.y, g.y)
    batch = next(iter(DataLoader(out, batch_size=len(out))))
    assert batch.laplacian_eigenvector_pe.shape == (sum(g.num_nodes for g in data), 3)
    with pytest.raises(ValueError, match="batch_size"):
        precompute_pe(data, pe, batch_size=0)


def test_precompute_pe_refuses_a_transform_that_loses_its_attribute():
    with pytest.raises(ValueError, match="would drop"):
        precompute_pe(graphs(), AddLaplacianEigenvectorPE(2, attr_name="lap"), batch_size=2)


# ---------------------------------------------------------------------- inductive
@pytest.fixture(scope="module")
def train_graphs():
    return [grid_graph(r, c) for r in range(3, 7) for c in range(3, 7)] + [cycle_graph(n) for n in range(8, 20)]


def test_fit_on_an_instance_uses_its_settings(train_graphs):
    pe = AddNeuralEigenvectorPE(3, attr_name="pe", add_eigenvalues=True, refine_steps=40, refine_dtype=torch.float64,
                                seed=5, ncv=9)
    fitted = pe.fit(train_graphs, steps=30, progress=False)
    assert fitted is pe and pe.model_ is not None
    assert pe.model_.config["k"] == 3 and pe.model_.config["seed"] == 5 and pe.model_.config["n_oversamples"] == 5
    out = pe(grid_graph(5, 7))
    assert set(out.keys()) >= {"pe", "pe_eigenvalues"}
    with pytest.raises(ValueError, match="k=3"):
        pe.fit(train_graphs, k=4)


def test_fit_on_the_class_still_works(train_graphs):
    pe = AddNeuralEigenvectorPE.fit(train_graphs, k=3, steps=30, progress=False, is_undirected=True,
                                    hidden_channels=16)
    assert isinstance(pe, AddNeuralEigenvectorPE) and pe.is_undirected and pe.model_.config["hidden_channels"] == 16
    with pytest.raises(TypeError, match="needs k"):
        AddNeuralEigenvectorPE.fit(train_graphs)


def test_inductive_default_is_pyg_whole_graph_space(train_graphs):
    # Inductive mode follows the same default as the transductive one: the disconnected graph gets the
    # null vector orthogonal to D^{1/2} 1 first; per_component=True drops it.
    pe = AddNeuralEigenvectorPE(3, refine_steps=320, refine_dtype=torch.float64, add_eigenvalues=True)
    pe.fit(train_graphs, steps=60, progress=False)
    data = graphs()
    exact = AddNeuralEigenvectorPE(3, add_eigenvalues=True, dtype=torch.float64, tol=1e-10)
    batch = pe(Batch.from_data_list([Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in data]))
    for i, g in enumerate(data):
        ref = exact(Data(edge_index=g.edge_index, num_nodes=g.num_nodes))
        got = batch[i]
        assert torch.allclose(got.laplacian_eigenvector_pe_eigenvalues, ref.laplacian_eigenvector_pe_eigenvalues,
                              atol=1e-8)
        assert np.allclose(rayleigh_quotients(got.laplacian_eigenvector_pe, g),
                           ref.laplacian_eigenvector_pe_eigenvalues.numpy(), atol=1e-8)
    two = batch[1].laplacian_eigenvector_pe  # the 9-cycle + 6-path + isolated node
    assert float(batch[1].laplacian_eigenvector_pe_eigenvalues[0]) == 0.0
    null = two[:, 0].double()
    assert torch.allclose(null, exact(data[1].clone()).laplacian_eigenvector_pe[:, 0].double(), atol=1e-12)
    three = batch[4].laplacian_eigenvector_pe  # two null vectors, then the smallest non-trivial pair
    assert torch.equal(batch[4].laplacian_eigenvector_pe_eigenvalues[:2], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(three[:, :2].double(), exact(data[4].clone()).laplacian_eigenvector_pe[:, :2].double(),
                          atol=1e-12)
    assert torch.equal(batch[5].laplacian_eigenvector_pe.abs().sum(0), torch.ones(3))  # edgeless: indicators
    assert torch.equal(batch[5].laplacian_eigenvector_pe[0], torch.zeros(3))  # the first one dropped, as PyG
    per = AddNeuralEigenvectorPE(3, per_component=True, add_eigenvalues=True, refine_steps=320,
                                 refine_dtype=torch.float64)
    per.model_ = pe.model_
    assert float(per(data[1].clone()).laplacian_eigenvector_pe_eigenvalues[0]) > 0.1
