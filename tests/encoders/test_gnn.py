import pytest
import torch

from pyg_spectral.datasets import cycle_graph
from pyg_spectral.encoders import GNNEncoder, random_node_features


@pytest.mark.parametrize("gnn", ["gcn", "gin", "sage"])
def test_models(karate, gnn):
    enc = GNNEncoder(karate.num_features, 5, gnn=gnn, hidden_channels=16)
    assert enc(karate.x, karate.edge_index).shape == (34, 5)
    assert enc.num_layers == 2


def test_random_features_break_symmetry():
    """On a cycle every node looks the same to message passing; random features tell them apart."""
    data = cycle_graph(12)
    x = torch.ones(12, 1)
    torch.manual_seed(0)
    plain = GNNEncoder(1, 3, random_features=0)(x, data.edge_index)
    assert torch.allclose(plain, plain[:1].expand(12, 3), atol=1e-6)
    torch.manual_seed(0)
    noisy = GNNEncoder(1, 3, random_features=8)(x, data.edge_index)
    assert (noisy - noisy[:1]).abs().max() > 1e-3


def test_random_features_are_deterministic_and_indexable(karate):
    torch.manual_seed(0)
    enc = GNNEncoder(0, 3, random_features=4, seed=5)
    assert torch.equal(random_node_features(10, 4, 5), random_node_features(10, 4, 5))
    full = enc.noise(34, karate.edge_index.device, torch.float32)
    n_id = torch.tensor([3, 1, 30])
    out_sub = enc(None, torch.tensor([[0, 1], [1, 0]]), n_id=n_id, num_nodes=34)
    assert out_sub.shape == (3, 3)
    assert torch.equal(enc.noise(34, "cpu", torch.float32)[n_id], full[n_id])


def test_bad_configuration(karate):
    with pytest.raises(ValueError, match="Unknown gnn"):
        GNNEncoder(3, 2, gnn="transformer")
    with pytest.raises(ValueError, match="random_features"):
        GNNEncoder(0, 2, random_features=0)
    enc = GNNEncoder(karate.num_features, 2)
    with pytest.raises(ValueError, match="features"):
        enc(torch.randn(34, 3), karate.edge_index)


@pytest.mark.parametrize("gnn", ["gcn", "sage"])
def test_seen_nodes_keep_their_outputs(cora_lcc, gnn):
    """The noise is keyed by node id: adding nodes (a new component) or reordering them changes nothing
    at the nodes already there. Without features the encoder runs on noise plus log-degree."""
    n = cora_lcc.num_nodes
    torch.manual_seed(0)
    enc = GNNEncoder(0, 6, gnn=gnn).eval()
    assert enc.degree_feature
    base = enc(None, cora_lcc.edge_index, num_nodes=n)
    extra = cycle_graph(10).edge_index + n
    grown = enc(None, torch.cat([cora_lcc.edge_index, extra], 1), num_nodes=n + 10)
    assert torch.allclose(grown[:n], base, atol=1e-5)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    shuffled = enc(None, inverse[cora_lcc.edge_index], n_id=perm, num_nodes=n)   # row i is node perm[i]
    assert torch.allclose(shuffled, base[perm], atol=1e-5)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_gnn_learns_a_graph_without_features(karate, batch_size):
    """No ``data.x`` (an edge list): the GNN runs on id-keyed noise and log-degrees, in full batch and on
    neighbor-sampled mini-batches, and the fitted model transforms a featureless graph."""
    import warnings

    from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
    from pyg_spectral.metrics import subspace_distance
    from torch_geometric.data import Data

    data = Data(edge_index=karate.edge_index, num_nodes=karate.num_nodes)
    _, vec = exact_eigenpairs(data, 3)
    kwargs = {} if batch_size is None else dict(batch_size=batch_size, sampler="neighbor", max_steps=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralSpectralEmbedding(3, encoder="sage", progress=False, **kwargs).fit(data)
    # (the solved head's 64 columns span all 34 nodes here: exact up to rounding; accuracy on real graphs is
    # tests/encoders/test_ritz_head.py's)
    assert subspace_distance(est.embedding_, vec) <= 1e-6
    again = est.transform(Data(edge_index=karate.edge_index, num_nodes=karate.num_nodes))
    assert torch.allclose(again, est.embedding_, atol=1e-5)


def test_featureless_graphs_get_more_noise_channels():
    """Without features a GNN sees only id-keyed noise (and log-degrees): it gets FEATURELESS_RANDOM_FEATURES
    channels, unless asked otherwise; with features it keeps GNNEncoder's default."""
    from pyg_spectral.encoders.build import FEATURELESS_RANDOM_FEATURES, build_encoder

    bare = build_encoder("gin", 4, num_nodes=10, head="ritz")
    assert bare.trunk.random_features == FEATURELESS_RANDOM_FEATURES == 128
    assert bare.trunk.degree_feature
    featured = build_encoder("gin", 4, num_nodes=10, x=torch.randn(10, 3))
    assert featured.random_features == 32
    asked = build_encoder("gcn", 4, num_nodes=10, encoder_kwargs={"random_features": 8})
    assert asked.random_features == 8


@pytest.mark.parametrize("layout", ["edge_index", "adj_t"])
def test_gcn_is_pyg_gcn_with_its_normalisation_built_once(karate, layout, monkeypatch):
    """GCN's normalised adjacency depends only on the graph: built once while the same tensors come back,
    with PyG's GCN's values and gradients."""
    from torch_geometric.nn.models import GCN

    from pyg_spectral.encoders import gnn as gnn_module
    from pyg_spectral.encoders.base import full_batch_layout

    calls = []
    norm = gnn_module.gcn_norm
    monkeypatch.setattr(gnn_module, "gcn_norm", lambda *a, **kw: calls.append(1) or norm(*a, **kw))
    n = karate.num_nodes
    enc = GNNEncoder(0, 6, gnn="gcn", random_features=8)
    reference = GCN(9, 128, 2, 6)
    reference.load_state_dict(enc.gnn.state_dict())
    edge_index = karate.edge_index
    if layout == "adj_t":
        _, edge_index = full_batch_layout(enc, None, karate.edge_index, n)
        assert edge_index.layout == torch.sparse_csr
    inputs = enc._inputs(None, karate.edge_index, None, n, torch.float32)
    expected = reference(inputs, karate.edge_index)
    for _ in range(3):
        out = enc(None, edge_index, num_nodes=n)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert len(calls) == 1
    out.square().sum().backward()
    expected.square().sum().backward()
    for p, q in zip(enc.gnn.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4)
    # another graph, or the same tensor edited in place, is normalised again
    enc(None, edge_index.clone(), num_nodes=n)
    assert len(calls) == 2
    if layout == "edge_index":
        edited = karate.edge_index.clone()
        enc(None, edited, num_nodes=n)
        edited.flip(0)  # not in place: same entry
        enc(None, edited, num_nodes=n)
        assert len(calls) == 3
        edited[:, :2] = edited[:, :2].flip(0)  # in place
        enc(None, edited, num_nodes=n)
        assert len(calls) == 4


def test_gcn_without_normalisation_keeps_the_raw_adjacency(karate):
    from torch_geometric.nn.models import GCN

    enc = GNNEncoder(0, 4, gnn="gcn", random_features=8, normalize=False)
    reference = GCN(9, 128, 2, 4, normalize=False)
    reference.load_state_dict(enc.gnn.state_dict())
    n = karate.num_nodes
    inputs = enc._inputs(None, karate.edge_index, None, n, torch.float32)
    torch.testing.assert_close(enc(None, karate.edge_index, num_nodes=n), reference(inputs, karate.edge_index))


@pytest.mark.parametrize("gnn", ["gcn", "sage", "gin"])
@pytest.mark.parametrize("norm", [None, "batch_norm"])
def test_ritz_start_makes_the_gnn_output_the_ritz_functions_of_its_features(karate, gnn, norm):
    """The skip's start: every output column is the Ritz function of the features' span (Rayleigh quotients
    equal the top Ritz values; the GNN's output layers add nothing), for each PyG model's last layer."""
    from pyg_spectral.operators import NormalizedAdjacency
    from pyg_spectral.spectrum.ritz import rayleigh_ritz

    op = NormalizedAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    x = torch.randn(karate.num_nodes, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    enc = GNNEncoder(12, 4, gnn=gnn, hidden_channels=16, norm=norm, skip=True).double()
    enc.ritz_initialize_(x, op)
    enc.eval()
    f = enc(x, karate.edge_index).detach()
    assert torch.allclose(f, enc.skip(x), atol=1e-12)
    theta = rayleigh_ritz(x, op.matvec(x), op.measure)[0][:4]
    rayleigh = torch.diag(f.T @ (op.measure[:, None] * op.matvec(f))) / torch.diag(f.T @ (op.measure[:, None] * f))
    assert torch.allclose(rayleigh, theta, atol=1e-10)
    trained = GNNEncoder(12, 4, gnn=gnn, hidden_channels=16, norm=norm, skip=True).double()
    assert not torch.allclose(trained(x, karate.edge_index), trained.skip(x))  # not so without the start


def test_ritz_start_needs_the_skip():
    from pyg_spectral.operators import NormalizedAdjacency

    op = NormalizedAdjacency.from_edge_index(cycle_graph(8).edge_index)
    with pytest.raises(RuntimeError, match="skip=True"):
        GNNEncoder(3, 2).ritz_initialize_(torch.randn(8, 3), op)
    with pytest.raises(ValueError, match=r"\[n, 3\] inputs of every node"):
        GNNEncoder(3, 2, skip=True).ritz_initialize_(torch.randn(8, 4), op)
