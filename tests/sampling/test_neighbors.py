"""NeighborSubgraphSampler: exact with full fan-out, bounded fan-out, both backends."""
import pytest
import torch

from pyg_spectral.encoders import GNNEncoder
from pyg_spectral.sampling import NeighborSubgraphSampler, pyg_sampler_available


@pytest.mark.parametrize("gnn", ["sage", "gin"])
def test_full_fanout_reproduces_full_graph_outputs(karate, gnn):
    # (GCN is excluded: its symmetric normalisation reads the degree of the
    # outermost nodes inside the subgraph, as with PyG's NeighborLoader.)
    torch.manual_seed(0)
    enc = GNNEncoder(karate.num_features, 4, gnn=gnn, hidden_channels=8, num_layers=2).eval()
    full = enc(karate.x, karate.edge_index)
    sampler = NeighborSubgraphSampler(karate.edge_index, karate.num_nodes, [-1, -1], backend="torch")
    seeds = torch.tensor([5, 0, 5, 21])
    n_id, edge_index, seed_index = sampler.sample(seeds)
    out = enc(karate.x[n_id], edge_index, n_id=n_id, num_nodes=karate.num_nodes)[seed_index]
    assert torch.allclose(out, full[seeds], atol=1e-5)


def test_fanout_bounds_in_degree(karate):
    sampler = NeighborSubgraphSampler(karate.edge_index, karate.num_nodes, [2], backend="torch",
                                      generator=torch.Generator().manual_seed(0))
    seeds = torch.arange(10)
    n_id, edge_index, _ = sampler.sample(seeds)
    assert torch.equal(n_id[:10], seeds)
    indeg = torch.bincount(edge_index[1], minlength=n_id.numel())
    assert int(indeg.max()) <= 2
    # every sampled edge is an edge of the graph
    pairs = set(map(tuple, karate.edge_index.t().tolist()))
    assert all((int(n_id[s]), int(n_id[t])) in pairs for s, t in edge_index.t())


@pytest.mark.parametrize("num_neighbors", [[], [0], [-2, 3]])
def test_bad_num_neighbors(karate, num_neighbors):
    with pytest.raises(ValueError, match="num_neighbors"):
        NeighborSubgraphSampler(karate.edge_index, karate.num_nodes, num_neighbors)


@pytest.mark.skipif(pyg_sampler_available(), reason="pyg-lib or torch-sparse is installed")
def test_pyg_backend_missing_raises(karate):
    with pytest.raises(ImportError, match="sparse"):
        NeighborSubgraphSampler(karate.edge_index, karate.num_nodes, [2], backend="pyg")


@pytest.mark.skipif(not pyg_sampler_available(), reason="needs pyg-lib or torch-sparse (the [sparse] extra)")
def test_pyg_backend_matches_torch_with_full_fanout(karate):
    torch.manual_seed(0)
    enc = GNNEncoder(karate.num_features, 4, gnn="sage", hidden_channels=8, num_layers=2).eval()
    full = enc(karate.x, karate.edge_index)
    sampler = NeighborSubgraphSampler(karate.edge_index, karate.num_nodes, [-1, -1], backend="pyg")
    seeds = torch.tensor([5, 0, 21])
    n_id, edge_index, seed_index = sampler.sample(seeds)
    out = enc(karate.x[n_id], edge_index, n_id=n_id, num_nodes=karate.num_nodes)[seed_index]
    assert torch.allclose(out, full[seeds], atol=1e-5)
