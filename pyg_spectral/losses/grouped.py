r"""NestedLoRA on a batch of graphs, graph by graph.

A batch of graphs is one block-diagonal operator, but the target of an inductive model is each graph's own
bottom eigenspace, not the union's: the moments are taken per graph :math:`g` under its uniform measure
:math:`\rho_g = 1/n_g`,

.. math::
    q_g = \sum_{i \in g} \rho_g\, f_i \odot (Tf)_i, \qquad M_g = \sum_{i \in g} \rho_g\, f_i f_i^\top, \qquad
    \mathcal L = \frac{1}{G} \sum_g \Big(-2\, v^\top q_g + \sum_{l,m} W_{lm} (M_g)_{lm}^2\Big),

with the joint-nesting masks :math:`v, W` (:func:`~pyg_spectral.losses.nesting.nesting_masks`); autograd
differentiates through ``tf``.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.utils import scatter

from .nesting import nesting_masks

__all__ = ["GroupedNestedLoRALoss"]


class GroupedNestedLoRALoss(nn.Module):
    """The mean over the graphs of a batch of each graph's NestedLoRA loss (``batch``: graph of each row).

    >>> import torch
    >>> loss = GroupedNestedLoRALoss(2)
    >>> f = torch.eye(4, 2)                      # two graphs of two nodes
    >>> float(loss(f, f, torch.tensor([0, 0, 1, 1]), 2))
    -0.5625
    """

    def __init__(self, num_components: int, nesting: str = "joint"):
        super().__init__()
        v, W = nesting_masks(int(num_components), nesting)
        self.register_buffer("vector_mask", v.float(), persistent=False)
        self.register_buffer("matrix_mask", W.float(), persistent=False)

    def forward(self, f: Tensor, tf: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        count = batch.bincount(minlength=num_graphs).float()
        rho = (1.0 / count)[batch].unsqueeze(-1)
        q = scatter(rho * f * tf, batch, dim=0, dim_size=num_graphs, reduce="sum")
        outer = (rho * f).unsqueeze(2) * f.unsqueeze(1)
        M = scatter(outer, batch, dim=0, dim_size=num_graphs, reduce="sum")
        return (-2.0 * (q * self.vector_mask).sum(1) + (self.matrix_mask * M * M).sum((1, 2))).mean()
