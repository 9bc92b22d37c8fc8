"""Inductive PE mode: training across graphs, refinement, save/load."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import cycle_graph, grid_graph, path_graph
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.transforms import AddNeuralEigenvectorPE


@pytest.fixture(scope="module")
def trained():
    graphs = [grid_graph(r, c) for r in range(4, 9) for c in range(4, 9)] + [path_graph(n) for n in range(10, 30)]
    # per_component and add_eigenvalues: these tests check the per-component rules and the eigenvalues
    # (PyG's whole-graph default in inductive mode: tests/transforms/test_pe_batches.py)
    return AddNeuralEigenvectorPE.fit(graphs, k=4, steps=150, batch_graphs=8, progress=False,
                                      gnn="gcn", num_layers=4, hidden_channels=32,
                                      per_component=True, add_eigenvalues=True)


@contextmanager
def refinement(transform, steps, dtype=None):
    """Temporarily set the transform's refinement budget (and dtype)."""
    saved = transform.refine_steps, transform.refine_dtype
    transform.refine_steps = steps
    transform.refine_dtype = saved[1] if dtype is None else dtype
    try:
        yield transform
    finally:
        transform.refine_steps, transform.refine_dtype = saved


#: eigenvalue accuracy a converged refinement reaches in each dtype
EIGENVALUE_ATOL = {torch.float64: 1e-8, torch.float32: 2e-6}


def test_training_decreases_the_loss(trained):
    hist = trained.model_.history_
    assert sum(hist[-10:]) / 10 < sum(hist[:10]) / 10


def test_unseen_graph_gets_deterministic_finite_pe(trained):
    g = grid_graph(9, 11)  # larger than every training graph
    a = trained(g.clone()).laplacian_eigenvector_pe
    b = trained(g.clone()).laplacian_eigenvector_pe
    assert a.shape == (99, 4) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert torch.allclose(a.norm(dim=0), torch.ones(4, dtype=a.dtype), atol=1e-5)


def test_refinement_reaches_exact_eigenvectors(trained):
    # Subspace iteration from the network's functions, then Rayleigh-Ritz.
    g = cycle_graph(31)
    with refinement(trained, 400):
        out = trained(g.clone())
    vals, vecs = exact_eigenpairs(g, 6)
    # cycle eigenvalues come in pairs: compare the span of modes 1..4 (two full pairs)
    assert subspace_distance(out.laplacian_eigenvector_pe, vecs[:, 1:5]) <= 1e-3


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "pe.pt"
    trained.save(path)
    loaded = AddNeuralEigenvectorPE.load(path)
    g = grid_graph(6, 7)
    assert torch.equal(loaded(g.clone()).laplacian_eigenvector_pe, trained(g.clone()).laplacian_eigenvector_pe)
    assert "inductive" in repr(loaded)


def test_load_checks_format_and_shapes(trained, tmp_path):
    path = tmp_path / "pe.pt"
    trained.save(path)
    blob = torch.load(path, weights_only=True)
    blob["format"] = 99
    torch.save(blob, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format"):
        AddNeuralEigenvectorPE.load(tmp_path / "future.pt")
    blob["format"] = 1
    blob["config"] = dict(blob["config"], hidden_channels=16)
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match"):
        AddNeuralEigenvectorPE.load(tmp_path / "mismatch.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved"):
        AddNeuralEigenvectorPE.load(tmp_path / "other.pt")


def test_transductive_transform_cannot_be_saved(tmp_path):
    with pytest.raises(RuntimeError, match="inductive"):
        AddNeuralEigenvectorPE(3).save(tmp_path / "x.pt")


def _mixed_graphs():
    from torch_geometric.data import Data

    two_parts = Data(edge_index=torch.cat([cycle_graph(9).edge_index, path_graph(6).edge_index + 9], 1),
                     num_nodes=16)  # a 9-cycle, a 6-path and one isolated node
    tiny = path_graph(3)
    return [grid_graph(6, 8), two_parts, tiny, cycle_graph(25), grid_graph(3, 3)]


def test_batch_gives_each_graph_its_own_pe(trained):
    from torch_geometric.data import Batch
    from torch_geometric.loader import DataLoader

    graphs = _mixed_graphs()
    with refinement(trained, 16):
        out = trained(Batch.from_data_list([g.clone() for g in graphs]))
        singles = [trained(g.clone()) for g in graphs]
        loaded = next(iter(DataLoader([g.clone() for g in graphs], batch_size=len(graphs))))
        via_loader = trained(loaded)
    assert out.laplacian_eigenvector_pe.shape == (sum(g.num_nodes for g in graphs), 4)
    assert out.laplacian_eigenvector_pe_eigenvalues.shape == (len(graphs) * 4,)
    for i, single in enumerate(singles):
        block = out.laplacian_eigenvector_pe[out.ptr[i]:out.ptr[i + 1]].double()
        lam = single.laplacian_eigenvector_pe_eigenvalues
        assert torch.allclose(out.laplacian_eigenvector_pe_eigenvalues[4 * i:4 * i + 4], lam, atol=1e-6)
        # Same eigenvectors; inside a repeated eigenvalue (cycles, square grids) any basis is as valid, and
        # batched BLAS rounds differently from one graph alone: compare the projector of each eigenspace.
        ref = single.laplacian_eigenvector_pe.double()
        start = 0
        for end in range(1, 5):
            if end == 4 or lam[end] - lam[end - 1] > 1e-6:
                a, b = block[:, start:end], ref[:, start:end]
                assert torch.allclose(a @ a.T, b @ b.T, atol=1e-5)
                start = end
    assert torch.equal(via_loader.laplacian_eigenvector_pe, out.laplacian_eigenvector_pe)


def test_connected_batch_takes_the_direct_path_with_the_same_pe(trained):
    # Every graph one component (no relabelling; the Ritz vectors are the PE columns directly): the same
    # PE as the general path, which a disconnected graph in the batch forces.
    from torch_geometric.data import Batch

    graphs = _mixed_graphs()
    connected = [graphs[0], graphs[2], graphs[3], graphs[4]]
    with refinement(trained, 24, torch.float64):
        direct = trained(Batch.from_data_list([g.clone() for g in connected]))
        general = trained(Batch.from_data_list([g.clone() for g in connected + [graphs[1]]]))
    n = direct.num_nodes
    assert direct.laplacian_eigenvector_pe.is_contiguous()
    assert torch.allclose(direct.laplacian_eigenvector_pe, general.laplacian_eigenvector_pe[:n], atol=1e-6)
    assert torch.allclose(direct.laplacian_eigenvector_pe_eigenvalues,
                          general.laplacian_eigenvector_pe_eigenvalues[:4 * len(connected)], atol=1e-9)
    tiny = direct.laplacian_eigenvector_pe[direct.ptr[1]:direct.ptr[2]]  # 3 nodes: two zero columns
    assert torch.all(tiny[:, 2:] == 0) and torch.all(direct.laplacian_eigenvector_pe_eigenvalues[6:8] == 0)


def test_disconnected_tiny_and_isolated_follow_the_documented_rules(trained):
    graphs = _mixed_graphs()
    out = trained(graphs[1].clone())  # 9-cycle + 6-path + isolated node; every component is small
    pe, lam = out.laplacian_eigenvector_pe, out.laplacian_eigenvector_pe_eigenvalues
    exact = []
    for nodes, g in ((range(0, 9), cycle_graph(9)), (range(9, 15), path_graph(6))):
        vals, _ = exact_eigenpairs(g, g.num_nodes - 1, dense_below=100)
        exact += list(vals[1:])
    exact = sorted(exact + [1.0])[:4]
    assert torch.allclose(lam, torch.tensor(exact, dtype=lam.dtype), atol=1e-8)
    for j in range(4):  # each vector lives on one component
        support = torch.nonzero(pe[:, j].abs() > 1e-8).flatten()
        assert support.numel() > 0
        assert bool((support < 9).all()) or bool(((support >= 9) & (support < 15)).all()) or \
            support.tolist() == [15]
    tiny = trained(graphs[2].clone())  # 3 nodes: 2 non-trivial eigenvectors, 2 zero columns
    assert torch.all(tiny.laplacian_eigenvector_pe[:, 2:] == 0)
    assert torch.all(tiny.laplacian_eigenvector_pe[:, :2].norm(dim=0) > 0.99)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batched_refinement_reaches_exact_eigenvectors(trained, dtype):
    from torch_geometric.data import Batch

    from pyg_spectral.metrics import gap_cutoff

    graphs = [grid_graph(7, 9), cycle_graph(30), path_graph(40), grid_graph(5, 5)]
    with refinement(trained, 320, dtype):
        out = trained(Batch.from_data_list([g.clone() for g in graphs]))
    for i, g in enumerate(graphs):
        vals, vecs = exact_eigenpairs(g, 6, dense_below=100)
        kk = gap_cutoff(vals[1:], 4, 1e-6)
        block = out.laplacian_eigenvector_pe[out.ptr[i]:out.ptr[i + 1]]
        assert subspace_distance(block[:, :kk], vecs[:, 1:kk + 1]) <= 1e-6
        got = out.laplacian_eigenvector_pe_eigenvalues[4 * i:4 * i + kk].double()
        assert torch.allclose(got, torch.as_tensor(vals[1:kk + 1], dtype=torch.float64), atol=EIGENVALUE_ATOL[dtype])


def test_refinement_schedule():
    from pyg_spectral.transforms.inductive import refinement_schedule

    assert refinement_schedule(0) == (0, 0)
    assert refinement_schedule(16) == (16, 1)
    assert refinement_schedule(32) == (16, 2)
    assert refinement_schedule(40) == (13, 3)
    # float32 resolves less growth per round: shorter rounds
    assert refinement_schedule(20, torch.float32) == (10, 2)
    assert refinement_schedule(24, torch.float32) == (8, 3)
    with pytest.raises(ValueError):
        refinement_schedule(-1)
    with pytest.raises(ValueError, match="float32 or float64"):
        refinement_schedule(8, torch.float16)


def test_default_refinement_beats_the_forward_pass(trained):
    # The default refine_steps is what users get; it must improve on the bare forward pass.
    g = grid_graph(10, 12)  # larger than every training graph
    vals, vecs = exact_eigenpairs(g, 6, dense_below=200)
    from pyg_spectral.metrics import gap_cutoff

    kk = gap_cutoff(vals[1:], 4, 1e-6)
    refined = trained(g.clone()).laplacian_eigenvector_pe
    with refinement(trained, 0):
        bare = trained(g.clone()).laplacian_eigenvector_pe
    d_refined = subspace_distance(refined[:, :kk], vecs[:, 1:kk + 1])
    d_bare = subspace_distance(bare[:, :kk], vecs[:, 1:kk + 1])
    assert d_refined < 0.5 * d_bare and d_refined < 0.05


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_weighted_and_disconnected_batch_matches_exact(trained, dtype):
    # Edge weights reach the operator through the component relabelling; a second component of the
    # first graph must not leak into its neighbour graph.
    from torch_geometric.data import Batch, Data

    from pyg_spectral.metrics import gap_cutoff

    gen = torch.Generator().manual_seed(0)
    grid = grid_graph(6, 7)
    ei = grid.edge_index
    w = torch.rand(ei.size(1), generator=gen) + 0.5
    w = (w + w[_reverse_index(ei)]) / 2  # symmetric weights
    two = Data(edge_index=torch.cat([ei, cycle_graph(12).edge_index + 42], 1),
               edge_weight=torch.cat([w, torch.ones(24)]), num_nodes=54)
    other = Data(edge_index=path_graph(20).edge_index, edge_weight=torch.ones(38), num_nodes=20)
    with refinement(trained, 320, dtype):
        out = trained(Batch.from_data_list([two, other]))
    # exact: eigenpairs of each component, k smallest overall for the first graph
    v1, u1 = exact_eigenpairs(Data(edge_index=ei, edge_weight=w, num_nodes=42), 41, dense_below=100)
    v2, u2 = exact_eigenpairs(cycle_graph(12), 11, dense_below=100)
    vals = sorted(list(v1[1:]) + list(v2[1:]))[:4]
    assert torch.allclose(out.laplacian_eigenvector_pe_eigenvalues[:4].double(),
                          torch.tensor(vals, dtype=torch.float64), atol=EIGENVALUE_ATOL[dtype])
    vp, up = exact_eigenpairs(path_graph(20), 6, dense_below=100)
    kk = gap_cutoff(vp[1:], 4, 1e-6)
    block = out.laplacian_eigenvector_pe[out.ptr[1]:out.ptr[2]]
    assert subspace_distance(block[:, :kk], up[:, 1:kk + 1]) <= 1e-6


def _reverse_index(edge_index):
    pos = {(int(a), int(b)): i for i, (a, b) in enumerate(edge_index.t().tolist())}
    return torch.tensor([pos[(int(b), int(a))] for a, b in edge_index.t().tolist()])


@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_adjacency_read_off_the_laplacian_equals_gcn_norm(weighted):
    # The GNN's matrix is derived from the Laplacian's entries; it must be PyG's own GCN normalization.
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.utils import to_torch_coo_tensor

    from pyg_spectral.operators import build_operator
    from pyg_spectral.transforms.inductive import InductivePEModel

    g = grid_graph(5, 6)
    ei = g.edge_index
    w = None
    if weighted:
        w = torch.rand(ei.size(1), generator=torch.Generator().manual_seed(1)) + 0.5
        w = (w + w[_reverse_index(ei)]) / 2
    op = build_operator("laplacian", ei, w, 30, dtype=torch.float64)
    model = InductivePEModel(k=3)
    got = model.adjacency(ei, 30, op.laplacian, op.degree).to_dense()
    ref_ei, ref_w = gcn_norm(ei, w, 30, add_self_loops=True)
    ref = to_torch_coo_tensor(ref_ei.flip(0), ref_w, size=30).to_dense()
    assert torch.allclose(got, ref, atol=1e-6)
    if not weighted:
        assert torch.allclose(model.adjacency(ei, 30).to_dense(), ref, atol=1e-6)


def test_fused_gcn_inference_equals_pyg_forward(trained):
    # Inference runs the GCN layers by hand (one sparse addmm each); it must be PyG's forward.
    g = grid_graph(7, 8)
    model = trained.model_
    with torch.no_grad():
        fused = model(g.edge_index, g.num_nodes)
    with torch.enable_grad():
        reference = model(g.edge_index, g.num_nodes)
    assert model._plain_gcn()
    assert torch.allclose(fused, reference.detach(), atol=1e-5)
