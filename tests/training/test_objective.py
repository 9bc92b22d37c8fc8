"""Objectives: full batch is exact; a custom nn.Module encoder trains in every mode."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import sbm_graph
from pyg_spectral.encoders import EmbeddingEncoder
from pyg_spectral.losses import build_loss
from pyg_spectral.metrics import subspace_distance
from pyg_spectral.operators import build_operator
from pyg_spectral.training.objective import FullBatchObjective, build_objective


class TwoLayerGCN(nn.Module):
    """A user's own encoder: plain torch on a dense normalized adjacency built from edge_index (no PyG layer)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(in_channels, 64), nn.Linear(64, out_channels)

    def forward(self, x, edge_index):
        n = x.size(0)
        a = torch.zeros(n, n, dtype=x.dtype).index_put_((edge_index[0], edge_index[1]),
                                                       torch.ones(edge_index.size(1), dtype=x.dtype), accumulate=True)
        a = a + torch.eye(n, dtype=x.dtype)
        d = a.sum(1).rsqrt()
        a = d[:, None] * a * d[None, :]
        return self.lin2(a @ torch.relu(self.lin1(a @ x)))


def _blocks():
    data = sbm_graph([60] * 4, 0.3, 0.01, seed=3)
    data.x = torch.nn.functional.one_hot(data.y, 4).float() + 0.1 * torch.randn(
        data.num_nodes, 4, generator=torch.Generator().manual_seed(0))
    return data


def test_full_batch_objective_is_the_exact_operator():
    data = _blocks()
    op = build_operator("laplacian", data.edge_index, num_nodes=data.num_nodes, dtype=torch.float64)
    enc = EmbeddingEncoder(data.num_nodes, 5, measure=op.measure, seed=0).double()
    f, tf, w = FullBatchObjective(op, enc).batch()
    assert torch.allclose(tf, op.matvec(f.detach())) and not tf.requires_grad and f.requires_grad
    assert torch.equal(w, op.measure)


def test_build_objective_checks_the_batch_against_the_graph():
    data = _blocks()
    op = build_operator("laplacian", data.edge_index, num_nodes=data.num_nodes)
    loss = build_loss("nested_lora", 5)
    import pytest

    with pytest.raises(ValueError, match="larger than the graph"):
        build_objective(op, EmbeddingEncoder(data.num_nodes, 5), loss, None, data.edge_index, batch_size=10_000)


@pytest.mark.slow
def test_custom_module_learns_the_block_eigenspace_full_batch_and_minibatch():
    data = _blocks()
    exact = exact_eigenpairs(data, 4)[1]
    for kwargs in ({}, {"batch_size": 120, "num_neighbors": [20, 20], "tol": 0.0}):
        torch.manual_seed(0)
        model = NeuralSpectralEmbedding(4, encoder=TwoLayerGCN(4, 12), progress=False, max_steps=600, lr=1e-2,
                                        **kwargs).fit(data)
        assert subspace_distance(model.embedding_.double(), torch.as_tensor(exact)) < 0.05, kwargs
