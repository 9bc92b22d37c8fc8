"""MLP on node features (inductive)."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn
from torch_geometric.nn.models import MLP

__all__ = ["MLPEncoder"]


class MLPEncoder(nn.Module):
    r"""An MLP (:class:`torch_geometric.nn.models.MLP`) from node features to
    :math:`m` eigenfunction values, as in Neural Eigenmap.

    Inductive: it evaluates on any node with features, but it can only learn
    eigenfunctions that are functions of the features (graph structure is
    not an input).

    Args:
        in_channels: feature dimension.
        out_channels: number of functions :math:`m`.
        hidden_channels: width of the hidden layers.
        num_layers: number of linear layers.
        **kwargs: passed to :class:`~torch_geometric.nn.models.MLP`
            (``act``, ``norm``, ``dropout``...).

    Example:
        >>> import torch
        >>> MLPEncoder(5, 8)(torch.randn(10, 5)).shape
        torch.Size([10, 8])
    """

    inputs = "features"
    sparse_features = True  # the first layer is linear: it takes sparse CSR features (full_batch_layout)

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 256, num_layers: int = 3, **kwargs):
        super().__init__()
        if int(in_channels) < 1:
            raise ValueError(f"MLPEncoder needs at least one input feature, got in_channels={in_channels}.")
        kwargs.setdefault("norm", None)
        self.mlp = MLP(in_channels=in_channels, hidden_channels=hidden_channels, out_channels=out_channels,
                       num_layers=num_layers, **kwargs)

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None, n_id: Optional[Tensor] = None) -> Tensor:
        if x is None:
            raise ValueError("MLPEncoder needs node features (data.x is None).")
        return self.mlp(x)
