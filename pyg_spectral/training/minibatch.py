r"""Mini-batch estimates of the nested losses: sampler -> encoder -> (f, Tf, w).

Each step returns the outputs ``f`` at a batch (with gradient), an estimate of
``(Tf)`` at the same rows (without gradient, as the custom-gradient losses
expect) and importance weights ``w``; the loss is then called with
``split=True`` so that products of expectations come from independent parts of
the batch. The expected loss and gradient equal the full-batch ones (tested by
Monte Carlo in ``tests/training/test_minibatch.py``).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..encoders.base import encoder_inputs
from ..operators.base import GraphOperator
from ..sampling import EdgeSampler, NeighborSubgraphSampler, NodeSampler, OperatorRows
from ..spectrum.ritz import ritz_record
from .objective import Objective

__all__ = ["MiniBatchObjective", "SAMPLERS"]

SAMPLERS = ("node", "edge", "neighbor")


class MiniBatchObjective(Objective):
    r"""Draws batches and evaluates the encoder on them.

    Args:
        op: the training operator (one-hop).
        encoder: any encoder; how it is evaluated on a batch follows
            :func:`~pyg_spectral.encoders.base.encoder_inputs` (a table by node ids, an MLP on feature rows,
            anything else on neighbor-sampled subgraphs).
        x: node features (or ``None``).
        edge_index: the graph's edges (for GNN subgraphs).
        batch_size: rows per step.
        sampler: ``"node"`` (nodes from the measure, exact rows of
            :math:`T`), ``"edge"`` (directed edges, one neighbour per row) or
            ``"neighbor"`` (``"node"`` batches, GNN on neighbor-sampled
            subgraphs).
        num_neighbors: GNN fan-out per layer (length = number of layers).
        edge_mode: ``"uniform"`` or ``"weighted"`` edge law.
        generator: random generator on the device.
    """

    #: products of expectations come from independent parts of the batch
    split = True

    def __init__(self, op: GraphOperator, encoder: nn.Module, x: Optional[Tensor], edge_index: Tensor,
                 batch_size: int, sampler: str = "node", num_neighbors: Optional[Sequence[int]] = None,
                 edge_mode: str = "uniform", backend: str = "auto", generator: Optional[torch.Generator] = None):
        if sampler not in SAMPLERS:
            raise ValueError(f"Unknown sampler {sampler!r}; choose one of {SAMPLERS}.")
        n = op.num_nodes
        self.op, self.encoder, self.x, self.sampler = op, encoder, x, sampler
        self.batch_size, self.generator = int(batch_size), generator
        # The module that produces the rows with gradient: the encoder, or its
        # DistributedDataParallel wrapper (whose forward syncs gradients).
        self.train_module: nn.Module = encoder
        self.rows = OperatorRows(op)
        self.subgraphs = None
        self.inputs = encoder_inputs(encoder)
        if self.inputs == "graph":
            layers = getattr(encoder, "num_layers", None)
            if layers is None:  # a user's module: one hop per fan-out given, else two
                layers = len(num_neighbors) if num_neighbors is not None else 2
            if num_neighbors is None:
                num_neighbors = [10] * layers
            if len(num_neighbors) != layers:
                raise ValueError(
                    f"num_neighbors has {len(num_neighbors)} entries but the GNN encoder has {layers} layers: "
                    "an L-layer GNN needs L hops, one fan-out per layer."
                )
            self.subgraphs = NeighborSubgraphSampler(edge_index, n, num_neighbors, backend=backend,
                                                     generator=generator)
        elif sampler == "neighbor":
            raise ValueError("sampler='neighbor' samples subgraphs for GNN encoders; use sampler='node' for "
                             f"{encoder.__class__.__name__}.")
        elif num_neighbors is not None:
            raise ValueError("num_neighbors applies to GNN encoders only.")
        self.nodes = NodeSampler(op.measure, self.batch_size, generator=generator)
        self.edges = EdgeSampler(op, self.batch_size, mode=edge_mode, generator=generator) if sampler == "edge" \
            else None

    # ------------------------------------------------------------- encoder
    def encode(self, n_id: Tensor, encoder: Optional[nn.Module] = None) -> Tensor:
        """Outputs of the encoder at the nodes ``n_id`` (repeats allowed)."""
        enc = self.encoder if encoder is None else encoder
        if self.inputs == "nodes":
            return enc(n_id=n_id)
        if self.inputs == "features":
            return enc(self.x[n_id])
        sub_id, sub_edges, seed_index = self.subgraphs.sample(n_id)
        x = self.x[sub_id] if self.x is not None else None
        if getattr(getattr(enc, "module", enc), "takes_node_ids", False):
            return enc(x, sub_edges, n_id=sub_id, num_nodes=self.op.num_nodes)[seed_index]
        return enc(x, sub_edges)[seed_index]

    def exact_tf(self, n_id: Tensor, encoder: Optional[nn.Module] = None) -> Tensor:
        """``(Tf)[n_id]`` from the outputs at the batch's neighbourhood (no gradient)."""
        u_id, apply = self.rows.neighbourhood(n_id)
        with torch.no_grad():
            return apply(self.encode(u_id, encoder))

    # ---------------------------------------------------------------- batch
    def batch(self, dtype: torch.dtype) -> Tuple[Tensor, Tensor, Tensor]:
        """Return ``(f [B, m], tf [B, m], weight [B])`` for one step."""
        if self.edges is not None:
            eb = self.edges.sample(dtype=dtype)
            f = self.encode(eb.heads, self.train_module)
            with torch.no_grad():
                tf = eb.diag.unsqueeze(-1) * f.detach() + eb.coef.unsqueeze(-1) * self.encode(eb.tails)
            return f, tf, eb.weight
        n_id, weight = self.nodes.sample(dtype=dtype)
        f = self.encode(n_id, self.train_module)
        return f, self.exact_tf(n_id), weight

    # ----------------------------------------------------------- evaluation
    def held_out(self, size: int, seed: int) -> Tuple[Tensor, Tensor]:
        """A fixed evaluation sample ``(n_id, weight)`` drawn from the measure."""
        gen = torch.Generator(device=self.op.measure.device).manual_seed(int(seed) + 7919)
        sampler = NodeSampler(self.op.measure, size, generator=gen)
        return sampler.sample(dtype=torch.float64)

    @torch.no_grad()
    def sample_ritz(self, n_id: Tensor, weight: Tensor, k: int, encoder: Optional[nn.Module] = None) -> Dict:
        r"""Rayleigh–Ritz from sample moments and residual estimates on a node sample.

        The residual of Ritz vector :math:`u` is estimated as
        :math:`\sqrt{\hat E_\rho[(Tu - \theta u)^2] / \hat E_\rho[u^2]}`, in the
        units of the user's operator; it needs no ground truth.
        """
        f = self.encode(n_id, encoder).double()
        tf = self.exact_tf(n_id, encoder).double()
        return ritz_record(f, tf, k, self.op.base, weight, sampled=True)
