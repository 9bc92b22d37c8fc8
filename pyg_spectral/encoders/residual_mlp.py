r"""A deep residual MLP with a projector head, for spectral embeddings of node features (NestedOMM's ogbn-products
network).

The trunk maps features to a ``hidden_channels``-dimensional representation

.. math::
    h_1 = \sigma(N_1(W_1 x)), \qquad h_{\ell+1} = h_\ell + \sigma(N_{\ell+1}(W_{\ell+1} h_\ell)),
    \quad \ell = 1, \dots, L - 1,

with :math:`N` a row-wise normalisation and :math:`\sigma` = ReLU; the projector maps :math:`h_L` to the :math:`m`
eigenfunction values (``Linear + norm + ReLU + Linear``, or one ``Linear`` with ``projector=False``).
:meth:`ResidualMLPEncoder.representation` returns :math:`h_L`, on which probes can be trained as on the learned
eigenfunctions (as in the paper's "representation" rows).

Why LayerNorm by default and not BatchNorm: the mini-batch estimators call the encoder separately on the batch
rows and on their sampled neighbours (and the Ritz evaluation on held-out rows); the unbiased-loss argument needs a
node's output to be a function of that node alone, which a row-wise normalisation gives and batch statistics do not.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

__all__ = ["ResidualMLPEncoder"]

NORMS = ("layer_norm", None)


def _norm(kind: Optional[str], channels: int) -> nn.Module:
    return nn.LayerNorm(channels) if kind == "layer_norm" else nn.Identity()


class _ResidualBlock(nn.Module):
    """``h + relu(norm(W h + b))``: the identity when ``W`` and ``b`` are zero (a zero vector normalises to the
    norm's bias, zero at initialisation, and ReLU(0) = 0)."""

    def __init__(self, channels: int, norm: Optional[str]):
        super().__init__()
        self.lin = nn.Linear(channels, channels)
        self.norm = _norm(norm, channels)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.norm(self.lin(h)).relu()


class ResidualMLPEncoder(nn.Module):
    r"""Residual MLP on node features with a projector head (see the module docstring for the layers).

    Pass it as ``NeuralSpectralEmbedding(k, encoder=ResidualMLPEncoder(f, m, ...), n_oversamples=m - k)``: the
    estimator learns :math:`m = k + p` functions, so ``out_channels`` must be :math:`m`. It is evaluated on
    feature rows (``inputs = "features"``), so mini-batch training touches only the rows of a batch and memory
    does not grow with the number of nodes.

    Args:
        in_channels: feature dimension.
        out_channels: number of output functions :math:`m`.
        hidden_channels: width of the trunk (the representation's dimension).
        num_layers: linear layers of the trunk: one input layer and ``num_layers - 1`` residual blocks.
        projector: a two-layer projector head (``Linear + norm + ReLU + Linear``); ``False``: one ``Linear``.
        projector_channels: hidden width of the projector (default ``hidden_channels``).
        norm: ``"layer_norm"`` (default) or ``None``.

    Example:
        >>> import torch
        >>> encoder = ResidualMLPEncoder(100, 24, hidden_channels=64, num_layers=3)
        >>> x = torch.randn(10, 100)
        >>> encoder(x).shape, encoder.representation(x).shape
        (torch.Size([10, 24]), torch.Size([10, 64]))
        >>> encoder.inputs
        'features'
    """

    inputs = "features"

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 2048, num_layers: int = 11,
                 projector: bool = True, projector_channels: Optional[int] = None, norm: Optional[str] = "layer_norm"):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("hidden_channels", hidden_channels), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ResidualMLPEncoder needs a positive integer {name}, got {value!r}.")
        if norm not in NORMS:
            raise ValueError(f"Unknown norm {norm!r}; choose one of {NORMS}.")
        self.in_channels, self.out_channels, self.hidden_channels = in_channels, out_channels, hidden_channels
        self.num_layers = num_layers
        self.input = nn.Sequential(nn.Linear(in_channels, hidden_channels), _norm(norm, hidden_channels), nn.ReLU())
        self.blocks = nn.ModuleList(_ResidualBlock(hidden_channels, norm) for _ in range(num_layers - 1))
        if projector:
            width = hidden_channels if projector_channels is None else int(projector_channels)
            self.projector = nn.Sequential(nn.Linear(hidden_channels, width), _norm(norm, width), nn.ReLU(),
                                           nn.Linear(width, out_channels))
        else:
            self.projector = nn.Linear(hidden_channels, out_channels)

    def representation(self, x: Tensor) -> Tensor:
        """The trunk's output :math:`h_L` (``[n, hidden_channels]``), before the projector."""
        if x is None:
            raise ValueError("ResidualMLPEncoder needs node features (data.x is None).")
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"ResidualMLPEncoder expects features of shape [n, {self.in_channels}], "
                             f"got {list(x.shape)}.")
        h = self.input(x)
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None, n_id: Optional[Tensor] = None) -> Tensor:
        return self.projector(self.representation(x))

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"hidden_channels={self.hidden_channels}, num_layers={self.num_layers}")
