r"""A network's linear skip of its inputs, started at the Rayleigh–Ritz solution on the inputs' span.

A network with a skip computes :math:`f(v) = g_\theta(v) + W x_v`. Rayleigh–Ritz of the operator :math:`T` on
the span of the inputs :math:`X` (``[n, c]``, every node) solves

.. math::
    X^\top R\, T X\, c_l = \theta_l\, X^\top R X\, c_l

(:math:`R` the measure); with the skip's rows set to the top coefficients :math:`c_l` and the network's
output layer zeroed on those columns, output column :math:`l` *is* the Ritz function :math:`X c_l` at the
start, so training begins where the best linear map of the inputs is and the network learns a correction.
This is the table's Ritz start for networks (:func:`ritz_initialize_skip_`); :func:`keep_ritz_start_` instead
keeps the start's functions as frozen extra columns beside a network left at its random start, for a solved
head (mini-batch training's default). The Ritz start is what makes propagated inputs
(:class:`~pyg_spectral.encoders.PropagatedInputs`) converge (PubMed's LCC without features, full batch, k = 16:
6.9e-5 -> 2.8e-7 max eigenvalue error).

>>> import torch
>>> from torch import nn
>>> from pyg_spectral.datasets import grid_graph
>>> from pyg_spectral.operators import NormalizedAdjacency
>>> op = NormalizedAdjacency.from_edge_index(grid_graph(4, 5).edge_index, dtype=torch.float64)
>>> skip, out = nn.Linear(20, 3, bias=False).double(), nn.Linear(8, 3).double()
>>> theta = ritz_initialize_skip_(skip, [out], torch.eye(20, dtype=torch.float64), op)
>>> bool(out.weight.abs().sum() == 0), theta.shape          # the output layer no longer adds anything
(True, torch.Size([3]))
"""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

import torch
from torch import Tensor, nn

from ..spectrum.ritz import ritz_from_moments, ritz_start, streamed_moments

__all__ = ["ritz_skip_weight", "ritz_initialize_skip_", "keep_ritz_start_", "ritz_start_network_", "append_kept_start"]


@torch.no_grad()
def ritz_skip_weight(skip: nn.Linear, x: Tensor, op, scaled: bool = False, rcond: float = 1e-7,
                     chunk: Optional[int] = None, columns: Optional[slice] = None) -> Tuple[Tensor, Tensor]:
    r"""``(weight, theta)``: the top ``r = min(d, rank)`` Ritz coefficients of ``op`` on the span of ``x``
    (``[n, c]``, every node; ``skip`` maps ``c -> d``) as the rows of a linear map (``[r, c]``, float64) and their Ritz values
    (``[r]``, descending); ``scaled`` multiplies row :math:`l` by :math:`\sqrt{\theta_l}` (the nested losses'
    minimiser in that span). The moments are streamed in column blocks
    (:func:`~pyg_spectral.spectrum.ritz.streamed_moments`: memory of ``n x 64`` float64 values besides ``x``);
    with ``chunk`` (a one-hop operator, as mini-batch training has), in node chunks of that many rows
    (:meth:`~pyg_spectral.sampling.OperatorRows.moments`: memory of a chunk's neighbourhood). ``columns``: solve
    on the span of ``x[:, columns]`` only, the weight being zero on the other inputs (e.g. raw features beside
    :class:`~pyg_spectral.encoders.PropagatedInputs`' structural columns: their width would make this solve the
    fit's cost, for little span)."""
    if x is None or x.dim() != 2 or x.size(-1) != skip.in_features or x.size(0) != op.num_nodes:
        raise ValueError(f"the Ritz start needs the [n, {skip.in_features}] inputs of every node "
                         f"(n = {op.num_nodes}), got {None if x is None else tuple(x.shape)}.")
    x = x.to_dense() if x.layout != torch.strided else x
    if not bool(torch.isfinite(x).all()):
        raise ValueError("the Ritz start got non-finite inputs (NaN or inf).")
    span = x if columns is None else x[:, columns]
    if chunk is None:
        gram, cross = streamed_moments(span, op.matvec, op.measure, dtype=op.dtype)
    else:
        from ..sampling.rows import OperatorRows

        gram, cross = OperatorRows(op).moments(span, op.measure, chunk)
    theta, coef = ritz_from_moments(gram, cross, rcond)
    r = min(skip.out_features, coef.size(1))
    if scaled:
        coef = ritz_start(coef, theta)
    weight = coef.new_zeros(r, x.size(-1))
    weight[:, slice(None) if columns is None else columns] = coef[:, :r].T
    return weight, theta[:r]


@torch.no_grad()
def ritz_initialize_skip_(skip: nn.Linear, output_layers: Iterable[nn.Module], x: Tensor, op,
                          scaled: bool = False, rcond: float = 1e-7, chunk: Optional[int] = None,
                          columns: Optional[slice] = None) -> Tensor:
    r"""Set ``skip`` (``c -> d``, no bias) to the top-``d`` Ritz coefficients of ``op`` on the span of ``x``
    (``[n, c]``, every node; :func:`ritz_skip_weight`) and zero the rows of those columns in ``output_layers``
    (the layers whose outputs are the network's: their ``weight`` rows and ``bias`` entries); returns the Ritz
    values set (``[r]``, ``r = min(d, rank)``; columns past the rank keep the network's random start)."""
    weight, theta = ritz_skip_weight(skip, x, op, scaled=scaled, rcond=rcond, chunk=chunk, columns=columns)
    r = weight.size(0)
    skip.weight.zero_()
    skip.weight[:r] = weight.to(skip.weight)
    for layer in output_layers:
        for name in ("weight", "bias"):
            param = getattr(layer, name, None)
            if isinstance(param, Tensor) and param.dim() >= 1 and param.size(0) == skip.out_features:
                param[:r] = 0
    return theta


@torch.no_grad()
def keep_ritz_start_(skip: nn.Linear, x: Tensor, op, scaled: bool = False, rcond: float = 1e-7,
                     chunk: Optional[int] = None, columns: Optional[slice] = None) -> Tensor:
    r"""The kept start: the top-``d`` Ritz coefficients of ``op`` on the span of ``x`` as a frozen ``[r, c]``
    map (returned, float64) whose outputs are extra columns of the network, and ``skip`` set to zero; the network
    itself keeps its random start. A solved head then combines the network's columns and the start's, so the
    start's Ritz functions stay in its basis whatever training does; unlike :func:`ritz_initialize_skip_` no
    trainable column starts as a copy of a kept one (near-duplicate columns would make the head's solve
    cancel: Cora's LCC, SAGE, 500 mini-batch steps, 1.0e-5 subspace distance with the copy, 3.0e-6 without,
    3.2e-6 at the start)."""
    weight, _ = ritz_skip_weight(skip, x, op, scaled=scaled, rcond=rcond, chunk=chunk, columns=columns)
    skip.weight.zero_()
    return weight


@torch.no_grad()
def ritz_start_network_(network: nn.Module, output_layers: Iterable[nn.Module], x: Tensor, op, scaled: bool = False,
                        rcond: float = 1e-7, chunk: Optional[int] = None, keep_start: bool = False,
                        columns: Optional[slice] = None) -> None:
    """A network's ``ritz_initialize_``: its ``skip`` started by :func:`ritz_initialize_skip_`, or with
    ``keep_start`` its ``start`` buffer set by :func:`keep_ritz_start_` (``columns``: see
    :func:`ritz_skip_weight`)."""
    if network.skip is None:
        raise RuntimeError(f"ritz_initialize_ sets the skip connection: build {type(network).__name__} with skip=True.")
    if keep_start:  # the start as frozen extra columns; the network keeps its random start
        network.start = keep_ritz_start_(network.skip, x, op, scaled=scaled, rcond=rcond, chunk=chunk,
                                         columns=columns).to(network.start)
    else:
        ritz_initialize_skip_(network.skip, output_layers, x, op, scaled=scaled, rcond=rcond, chunk=chunk,
                              columns=columns)


def append_kept_start(out: Tensor, x: Tensor, start: Tensor) -> Tensor:
    r"""``out`` with the kept start's columns :math:`x\,c_l` appended (``out`` itself when none is kept)."""
    return out if start.numel() == 0 else torch.cat([out, nn.functional.linear(x, start.to(out.dtype))], -1)
