"""MLP on node features (inductive)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn.models import MLP

from .skip import append_kept_start, ritz_start_network_

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
        # the Ritz start's coefficients kept as frozen extra output columns (ritz_initialize_(keep_start=True))
        self.register_buffer("start", torch.empty(0, int(in_channels)))

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None, n_id: Optional[Tensor] = None) -> Tensor:
        if x is None:
            raise ValueError("MLPEncoder needs node features (data.x is None).")
        out = self.mlp(x)
        out = out if self.skip is None else out + self.skip(x)
        return append_kept_start(out, x, self.start)

    @torch.no_grad()
    def ritz_initialize_(self, x: Tensor, op, scaled: bool = False, rcond: float = 1e-7,
                         chunk: Optional[int] = None, keep_start: bool = False,
                         columns: Optional[slice] = None) -> "MLPEncoder":
        r"""Start the network at the Rayleigh–Ritz solution of ``op`` on the span of its inputs ``x``
        (``[n, in_channels]``, every node): the skip's rows become the top Ritz coefficients :math:`c_l`
        (so output column :math:`l` is the Ritz function :math:`x c_l`, times :math:`\sqrt{\theta_l}` with
        ``scaled``, the nested losses' minimiser in that span) and the MLP's last layer is zeroed on those
        columns, so training starts where a linear map of the inputs is best and the MLP learns a correction.
        Columns beyond the span's rank keep the MLP's random start. Memory and ``chunk``: see
        :func:`~pyg_spectral.encoders.skip.ritz_initialize_skip_`.
        With ``keep_start`` (for a solved head, :class:`~pyg_spectral.encoders.RitzHead`) the start goes to the
        frozen buffer ``start`` instead, whose outputs :math:`x\,c_l` are appended as ``r`` extra columns
        (``[n, out_channels + r]``), the skip is zeroed and the network keeps its random start
        (:func:`~pyg_spectral.encoders.skip.keep_ritz_start_`). ``columns``: the start on those input columns
        only (:func:`~pyg_spectral.encoders.skip.ritz_skip_weight`).

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
        ritz_start_network_(self, [self.mlp.lins[-1]], x, op, scaled=scaled, rcond=rcond, chunk=chunk,
                            keep_start=keep_start, columns=columns)
        return self
