r"""Objectives: where each training step's ``(f, Tf, w)`` come from.

An objective's :meth:`~Objective.batch` returns the encoder's outputs ``f`` (with gradient), the operator applied to
them ``Tf`` and the weights ``w`` with which the loss averages rows; :attr:`split` says whether products of
expectations must come from independent parts of the batch (mini-batches) or not (the exact full graph).

* :class:`FullBatchObjective`: the whole graph, exactly (``w`` is the operator's measure);
* :class:`~pyg_spectral.training.minibatch.MiniBatchObjective`: node, edge or neighbor-subgraph samples,
  unbiased;
* :class:`DistributedObjective`: every rank's batch all-gathered, so the loss is the single-process
  estimator on the ranks' concatenated batch;
* :class:`GraphBatchObjective`: batches of whole graphs, each graph its own problem (inductive models).

:meth:`~Objective.loss` is what the trainer calls: the loss of one step.

>>> import torch
>>> from pyg_spectral.datasets import cycle_graph
>>> from pyg_spectral.encoders import EmbeddingEncoder
>>> from pyg_spectral.operators import build_operator
>>> op = build_operator("laplacian", cycle_graph(6).edge_index, num_nodes=6)
>>> f, tf, w = FullBatchObjective(op, EmbeddingEncoder(6, 3, seed=0)).batch()
>>> f.shape, bool(torch.allclose(tf, op.matvec(f.detach()))), float(w.sum())
(torch.Size([6, 3]), True, 1.0)
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..encoders.base import full_batch_layout
from ..encoders.build import graph_size_kwargs
from ..encoders.ritz_head import RitzHead

__all__ = ["Objective", "FullBatchObjective", "DistributedObjective", "GraphBatchObjective", "build_objective"]


class Objective(ABC):
    """The protocol: :meth:`batch` gives ``(f, Tf, w)``; :attr:`split` says whether the loss must take
    products of expectations from independent parts of the batch."""

    split = False

    @abstractmethod
    def batch(self, dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """``(f, Tf, w)`` of one step: outputs with gradient, the operator applied to them, row weights."""

    def loss(self, loss_fn: nn.Module, dtype: Optional[torch.dtype] = None) -> Tensor:
        """The loss of one step on a fresh batch."""
        f, tf, w = self.batch(dtype)
        return loss_fn(f, tf, weight=w, split=True) if self.split else loss_fn(f, tf, weight=w)


class FullBatchObjective(Objective):
    """The exact objective on the whole graph.

    Args:
        op: the training operator.
        encoder: any module called as ``encoder(x, edge_index)`` (``x`` may be ``None``).
        x: node features or ``None``.
        edge_index: the graph's edges (message passing).
        custom_gradient: ``True``: ``Tf`` is computed without gradient (the custom-gradient losses);
            ``False``: autograd differentiates through the operator.
    """

    split = False

    def __init__(self, op, encoder: nn.Module, x: Optional[Tensor] = None, edge_index: Optional[Tensor] = None,
                 custom_gradient: bool = True):
        self.op, self.encoder, self.custom_gradient = op, encoder, custom_gradient
        # the same inputs at every step: sparse layouts where the encoder's first operations take them
        self.x, self.edge_index = full_batch_layout(encoder, x, edge_index, op.num_nodes)
        self._size = graph_size_kwargs(encoder, x, op.num_nodes)  # a featureless graph's size, for GNNs

    def batch(self, dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """``(f [n, m], Tf [n, m], measure [n])``. A :class:`~pyg_spectral.encoders.RitzHead` has its head
        re-solved on this step's trunk outputs first (one product with the trunk's ``d`` columns)."""
        if isinstance(self.encoder, RitzHead):
            h = self.encoder.features(self.x, self.edge_index, **self._size)
            with torch.no_grad():
                th = self.op.matvec(h.detach())
                self.encoder.solve_(h.detach(), th, self.op.measure)
            coef = self.encoder.coef
            f = h @ coef
            return f, (th @ coef if self.custom_gradient else self.op.matvec(f)), self.op.measure
        f = self.encoder(self.x, self.edge_index, **self._size)
        if self.custom_gradient:
            with torch.no_grad():
                tf = self.op.matvec(f.detach())
        else:
            tf = self.op.matvec(f)
        return f, tf, self.op.measure


class DistributedObjective(Objective):
    """One rank's share of a data-parallel objective: the inner objective's batch, all-gathered over the
    ranks of ``ctx`` (:class:`~pyg_spectral.training.distributed.DistributedContext`)."""

    split = True

    def __init__(self, inner, ctx):
        self.inner, self.ctx = inner, ctx

    def batch(self, dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, Tensor, Tensor]:
        return self.ctx.gather_batch(*self.inner.batch(dtype))


class GraphBatchObjective(Objective):
    """Batches of whole graphs from ``loader`` (a PyG ``DataLoader``, cycled), the encoder called as
    ``encoder(batch)`` for ``(f, Tf)``, and a grouped loss
    (:class:`~pyg_spectral.losses.grouped.GroupedNestedLoRALoss`) that treats each graph on its own."""

    def __init__(self, loader, encode):
        self.loader, self.encode = loader, encode
        self._batches, self._graphs = iter(()), None

    def next_graphs(self):
        """The next batch of graphs (the loader starts over, reshuffled, when it runs out)."""
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            return next(self._batches)

    def batch(self, dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """``(f, Tf, batch)`` of the next batch of graphs (the graph of each row in place of weights)."""
        graphs = self._graphs = self.next_graphs()
        f, tf = self.encode(graphs)
        return f, tf, graphs.batch

    def loss(self, loss_fn: nn.Module, dtype: Optional[torch.dtype] = None) -> Tensor:
        f, tf, batch = self.batch(dtype)
        return loss_fn(f, tf, batch, self._graphs.num_graphs)


def build_objective(op, encoder: nn.Module, loss_fn, x: Optional[Tensor], edge_index: Tensor, *,
                    batch_size: Optional[int] = None, sampler: str = "node",
                    num_neighbors: Optional[Sequence[int]] = None, edge_mode: str = "uniform",
                    sampler_backend: str = "auto", custom_gradient: bool = True, seed: int = 0, ctx=None,
                    settings: Optional[Dict[str, Any]] = None):
    """The objective of a run: full batch (``batch_size=None``), mini-batch, or data parallel over the ranks
    of ``ctx`` (which must agree on ``settings``; the encoder is then wrapped in DDP as the batch's
    ``train_module``). Checks the batch size against the graph, the loss and the ranks."""
    from .distributed import check_consistent, rank_seed
    from .minibatch import MiniBatchObjective

    n = op.num_nodes
    if ctx is not None:
        check_consistent(ctx, settings)
        if batch_size is None:
            raise ValueError("Distributed training is mini-batch data parallelism: set batch_size (rows per rank "
                             "per step), or call fit outside the process group (distributed=False).")
        if batch_size * ctx.world_size > n:
            raise ValueError(
                f"world_size x batch_size = {ctx.world_size} x {batch_size} = {ctx.world_size * batch_size} "
                f"rows per step exceed the graph's {n} nodes: fewer processes or a smaller batch_size.")
    if batch_size is None:
        return FullBatchObjective(op, encoder, x, edge_index, custom_gradient)
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} is larger than the graph ({n} nodes); use "
                         "batch_size=None for exact full-batch training, or a smaller batch.")
    if batch_size < loss_fn.independent_parts:
        raise ValueError(f"batch_size must be at least {loss_fn.independent_parts} for {loss_fn.__class__.__name__} "
                         "(it is split into independent parts).")
    if not custom_gradient:
        raise ValueError("Mini-batch training uses gradient='custom' ((Tf) is estimated without gradient).")
    rank = ctx.rank if ctx is not None else 0
    gen = torch.Generator(device=op.device).manual_seed(rank_seed(seed, rank))
    objective = MiniBatchObjective(op, encoder, x, edge_index, batch_size, sampler=sampler,
                                   num_neighbors=num_neighbors, edge_mode=edge_mode, backend=sampler_backend,
                                   generator=gen)
    if ctx is None:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    # Global-RNG consumers (PyG's compiled neighbor sampler, dropout) get a stream per rank too.
    torch.manual_seed(rank_seed(seed, ctx.rank))
    objective.train_module = DistributedDataParallel(
        encoder, device_ids=[op.device] if op.device.type == "cuda" else None, broadcast_buffers=False)
    return DistributedObjective(objective, ctx)
