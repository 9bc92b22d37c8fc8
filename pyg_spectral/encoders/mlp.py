"""MLP on node features (inductive)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn.models import MLP

from ..spectrum.ritz import ritz_from_moments, ritz_start, streamed_moments

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
        skip: add a linear map of the inputs to the output, :math:`f(x) = \mathrm{MLP}(x) + W x`, which
            :meth:`ritz_initialize_` can start at the Rayleigh–Ritz solution on the span of the inputs.
        **kwargs: passed to :class:`~torch_geometric.nn.models.MLP`
            (``act``, ``norm``, ``dropout``...).

    Example:
        >>> import torch
        >>> MLPEncoder(5, 8)(torch.randn(10, 5)).shape
        torch.Size([10, 8])
    """

    inputs = "features"
    sparse_features = True  # the first layer is linear: it takes sparse CSR features (full_batch_layout)

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 256, num_layers: int = 3,
                 skip: bool = False, **kwargs):
        super().__init__()
        if int(in_channels) < 1:
            raise ValueError(f"MLPEncoder needs at least one input feature, got in_channels={in_channels}.")
        kwargs.setdefault("norm", None)
        self.mlp = MLP(in_channels=in_channels, hidden_channels=hidden_channels, out_channels=out_channels,
                       num_layers=num_layers, **kwargs)
        self.skip = nn.Linear(in_channels, out_channels, bias=False) if skip else None

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None, n_id: Optional[Tensor] = None) -> Tensor:
        if x is None:
            raise ValueError("MLPEncoder needs node features (data.x is None).")
        out = self.mlp(x)
        return out if self.skip is None else out + self.skip(x)

    @torch.no_grad()
    def ritz_initialize_(self, x: Tensor, op, scaled: bool = False, rcond: float = 1e-7,
                         chunk: Optional[int] = None) -> "MLPEncoder":
        r"""Start the network at the Rayleigh–Ritz solution of ``op`` on the span of its inputs ``x``
        (``[n, in_channels]``, every node): the skip's rows become the top Ritz coefficients :math:`c_l`
        (so output column :math:`l` is the Ritz function :math:`x c_l`, times :math:`\sqrt{\theta_l}` with
        ``scaled``, the nested losses' minimiser in that span) and the MLP's last layer is zeroed on those
        columns, so training starts where a linear map of the inputs is best and the MLP learns a correction.
        Columns beyond the span's rank keep the MLP's random start. The moments are streamed in column
        blocks (:func:`~pyg_spectral.spectrum.ritz.streamed_moments`): memory of ``n x 64`` float64 values
        besides ``x``; with ``chunk`` (a one-hop operator, as mini-batch training has), in node chunks of that many
        rows (:meth:`~pyg_spectral.sampling.OperatorRows.moments`): memory of a chunk's neighbourhood.

        >>> import numpy as np
        >>> from pyg_spectral.datasets import grid_graph
        >>> from pyg_spectral.operators import NormalizedAdjacency
        >>> op = NormalizedAdjacency.from_edge_index(grid_graph(5, 7).edge_index, dtype=torch.float64)
        >>> x = torch.eye(35, dtype=torch.float64)                  # inputs spanning every eigenvector
        >>> enc = MLPEncoder(35, 4, hidden_channels=8, skip=True).double().ritz_initialize_(x, op)
        >>> f = enc(x).detach()
        >>> rayleigh = torch.diag(f.T @ (op.measure[:, None] * op.matvec(f)))
        >>> top = np.linalg.eigvalsh(op.symmetric_matrix().toarray())[::-1][:4]
        >>> bool(np.allclose(rayleigh.numpy(), top))
        True
        """
        if self.skip is None:
            raise RuntimeError("ritz_initialize_ sets the skip connection: build MLPEncoder with skip=True.")
        if x is None or x.dim() != 2 or x.size(-1) != self.skip.in_features or x.size(0) != op.num_nodes:
            raise ValueError(f"ritz_initialize_ needs the [n, {self.skip.in_features}] inputs of every node "
                             f"(n = {op.num_nodes}), got {None if x is None else tuple(x.shape)}.")
        x = x.to_dense() if x.layout != torch.strided else x
        if not bool(torch.isfinite(x).all()):
            raise ValueError("ritz_initialize_ got non-finite inputs (NaN or inf).")
        if chunk is None:
            gram, cross = streamed_moments(x, op.matvec, op.measure, dtype=op.dtype)
        else:
            from ..sampling.rows import OperatorRows

            gram, cross = OperatorRows(op).moments(x, op.measure, chunk)
        theta, coef = ritz_from_moments(gram, cross, rcond)
        r = min(self.skip.out_features, coef.size(1))
        if scaled:
            coef = ritz_start(coef, theta)
        weight = torch.zeros_like(self.skip.weight)
        weight[:r] = coef[:, :r].T.to(weight)
        self.skip.weight.copy_(weight)
        last = self.mlp.lins[-1]
        last.weight[:r] = 0
        if last.bias is not None:
            last.bias[:r] = 0
        return self
