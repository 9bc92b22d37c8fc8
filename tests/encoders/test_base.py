"""full_batch_layout: sparse layouts of the constant full-batch inputs give the same outputs and gradients."""
import pytest
import torch

from pyg_spectral.encoders import GNNEncoder, MLPEncoder
from pyg_spectral.encoders.base import full_batch_layout


def _sparse_features(n=30, d=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=gen) < 0.05).float() * torch.rand(n, d, generator=gen)


def test_mlp_gets_csr_features_with_equal_outputs_and_gradients():
    x = _sparse_features()
    torch.manual_seed(0)
    enc = MLPEncoder(40, 3, hidden_channels=8)
    x_csr, _ = full_batch_layout(enc, x, None, 30)
    assert x_csr.layout == torch.sparse_csr
    grads = []
    for inputs in (x, x_csr):
        enc.zero_grad()
        out = enc(inputs)
        (out ** 2).sum().backward()
        grads.append([p.grad.clone() for p in enc.parameters()])
        if inputs is x:
            dense_out = out.detach()
    assert torch.allclose(out.detach(), dense_out, atol=1e-6)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_dense_features_stay_dense():
    x = torch.randn(30, 40)
    assert full_batch_layout(MLPEncoder(40, 3), x, None, 30)[0] is x


@pytest.mark.parametrize("gnn", ["gcn", "sage", "gin"])
@pytest.mark.parametrize("features", [True, False])
def test_gnn_gets_adjacency_with_equal_outputs(gnn, features):
    gen = torch.Generator().manual_seed(1)
    n = 25
    edge_index = torch.randint(0, n, (2, 80), generator=gen)  # directed
    edge_index = torch.unique(edge_index, dim=1)  # no repeated edge
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    x = torch.randn(n, 4, generator=gen) if features else None
    torch.manual_seed(0)
    enc = GNNEncoder(4 if features else 0, 3, gnn=gnn, hidden_channels=8, random_features=5)
    _, adj_t = full_batch_layout(enc, x, edge_index, n)
    assert adj_t.layout == torch.sparse_csr
    size = {} if features else {"num_nodes": n}
    assert enc.degree_feature is not features
    assert torch.allclose(enc(x, adj_t, **size), enc(x, edge_index, **size), atol=1e-5)


@pytest.mark.parametrize("edge_index", [torch.tensor([[0, 0, 1], [1, 1, 0]]),  # 0 -> 1 twice: CSR would merge
                                        torch.tensor([[0, 1, 1], [1, 0, 1]])])  # a self-loop: GCN adds another
def test_repeated_edges_and_self_loops_keep_the_edge_list(edge_index):
    enc = GNNEncoder(0, 2, gnn="gcn", random_features=3)
    assert full_batch_layout(enc, None, edge_index, 2)[1] is edge_index
