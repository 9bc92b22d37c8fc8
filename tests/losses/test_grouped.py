"""The per-graph NestedLoRA loss of a batch of graphs equals the mean of each graph's own loss."""
from __future__ import annotations

import torch

from pyg_spectral.losses.grouped import GroupedNestedLoRALoss
from pyg_spectral.losses.nesting import nesting_masks


def _single(f, tf, v, W):
    rho = 1.0 / f.size(0)
    q = rho * (f * tf).sum(0)
    M = rho * f.T @ f
    return -2.0 * (q * v).sum() + (W * M * M).sum()


def test_grouped_loss_is_the_mean_of_per_graph_losses():
    gen = torch.Generator().manual_seed(0)
    sizes = [5, 3, 7]
    f = torch.randn(sum(sizes), 4, generator=gen)
    tf = torch.randn(sum(sizes), 4, generator=gen)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    v, W = (t.float() for t in nesting_masks(4, "joint"))
    parts = [_single(fp, tp, v, W) for fp, tp in zip(f.split(sizes), tf.split(sizes))]
    assert torch.allclose(GroupedNestedLoRALoss(4)(f, tf, batch, 3), torch.stack(parts).mean(), atol=1e-6)
