r"""Mini-batch estimates of the nested losses: sampler -> encoder -> (f, Tf, w).

Each step returns the outputs ``f`` at a batch (with gradient), an estimate of
``(Tf)`` at the same rows (without gradient, as the custom-gradient losses
expect) and importance weights ``w``; the loss is then called with
``split=True`` so that products of expectations come from independent parts of
the batch. The expected loss and gradient equal the full-batch ones (tested by
Monte Carlo in ``tests/training/test_minibatch.py``).

A :class:`~pyg_spectral.encoders.RitzHead` encoder has its head solved each step from running averages of the
trunk's moments :math:`\hat E[h h^\top]`, :math:`\hat E[h\, (Th)^\top]` over the batches (bias-corrected
exponential averages, ``moment_decay``), the trunk evaluated once on the batch and its neighbourhood (one set
of normalisation statistics for both); the step's gradient is then the row-wise Ritz residual
(:func:`~pyg_spectral.losses.ritz_residual_loss`, the nested losses' gradient at a solved head), not the split
estimate.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..encoders.base import encoder_inputs
from ..encoders.build import graph_size_kwargs
from ..encoders.ritz_head import RitzHead
from ..losses.residual import ritz_residual_loss
from ..operators.base import GraphOperator
from ..sampling import EdgeSampler, NeighborSubgraphSampler, NodeSampler, OperatorRows
from ..spectrum.ritz import ritz_moments, ritz_record
from .objective import Objective

__all__ = ["MiniBatchObjective", "SAMPLERS"]

SAMPLERS = ("node", "edge", "neighbor")


#: default ``trunk_decorrelation`` of a RitzHead over an MLP (feature) trunk
MLP_TRUNK_DECORRELATION = 0.1


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
        moment_decay: a :class:`~pyg_spectral.encoders.RitzHead`'s moment averages keep this share of the past
            each step (Cora, MLP, B = 256: 0.8 and 0.9 gave subspace distance 0.097, 0.95 gave 0.13, 0.99 0.29:
            the trunk moves, so old moments mislead the head).
        moment_rcond: directions of the trunk's span whose averaged Gram eigenvalue is below this share of the
            largest are left out of the step's head. The trunk's outputs grow nearly collinear as training goes
            on (Cora, MLP, B = 256: Gram condition number 5e6 at step 300, 1e9 at step 2000), and in those
            directions the averaged moments are mostly sampling error, so their Ritz values are noise that
            the head would follow. Measured (Cora LCC, k = 16, B = 256, 2000 steps, subspace distance, cut at
            1e-7 -> 1e-4): MLP seed 0 0.11 -> 0.077 (1e-3: 0.11), seed 1 0.059 -> 0.038; SAGE with the
            neighbor sampler 0.12 -> 0.023. The final head, solved from exact moments, keeps 1e-7.
        trunk_decorrelation: weight of :func:`correlation_penalty` on the trunk's batch rows (RitzHead only).
            The Ritz-residual gradient moves each trunk column towards :math:`Tf` (a power iteration), so the
            columns drift together and the span collapses in long runs; the solved head serves any basis of the
            span alike, so the penalty mainly keeps a well-conditioned one. ``None``: 0.1 for feature (MLP) trunks, 0
            for message-passing trunks (SAGE, neighbor sampler, Cora LCC, defaults: 1.7e-3 without, 6.4e-3 with
            0.1: its span did not collapse; at 2000 steps 0.023 -> 0.033). Cora LCC, MLP, k = 16, B = 256,
            subspace distance, 0 -> 0.1: library defaults (10000 steps) 0.24 -> 4.1e-3 (seed 1: 4.2e-3); 4000
            steps 0.13 -> 1.0e-2 (without it the step head's span falls below rank k after ~2400 steps); but
            2000 steps 0.077 -> 0.094 (seed 1: 0.038 -> 0.083): it slows the first thousand steps. 1.0 and 0.3
            were worse.
    """

    #: products of expectations come from independent parts of the batch
    split = True

    def __init__(self, op: GraphOperator, encoder: nn.Module, x: Optional[Tensor], edge_index: Tensor,
                 batch_size: int, sampler: str = "node", num_neighbors: Optional[Sequence[int]] = None,
                 edge_mode: str = "uniform", backend: str = "auto", generator: Optional[torch.Generator] = None,
                 moment_decay: float = 0.9, moment_rcond: float = 1e-4, trunk_decorrelation: Optional[float] = None):
        if sampler not in SAMPLERS:
            raise ValueError(f"Unknown sampler {sampler!r}; choose one of {SAMPLERS}.")
        self.head = encoder if isinstance(encoder, RitzHead) else None
        if self.head is not None and sampler == "edge":
            raise ValueError("A RitzHead encoder solves its head from node batches and their exact operator rows: "
                             "use sampler='node' or 'neighbor' (or encoder_kwargs['head']='linear' with 'edge').")
        if not 0.0 <= float(moment_decay) < 1.0:
            raise ValueError(f"moment_decay must be in [0, 1), got {moment_decay!r}.")
        self.moment_decay = float(moment_decay)
        if not 0.0 < float(moment_rcond) < 1.0:
            raise ValueError(f"moment_rcond must be in (0, 1), got {moment_rcond!r}.")
        self.moment_rcond = float(moment_rcond)
        if trunk_decorrelation is None:  # measured per trunk kind (see Args)
            trunk_decorrelation = MLP_TRUNK_DECORRELATION if encoder_inputs(encoder) == "features" else 0.0
        if not (0.0 <= float(trunk_decorrelation) < float("inf")):
            raise ValueError(f"trunk_decorrelation must be a non-negative number, got {trunk_decorrelation!r}.")
        self.trunk_decorrelation = float(trunk_decorrelation)
        self._trunk_rows: Optional[Tuple[Tensor, Tensor]] = None
        self._moments: Optional[Tuple[Tensor, Tensor]] = None
        self._moment_weight = 0.0  # sum of the averaging weights, for the bias correction
        self._theta: Optional[Tensor] = None
        n = op.num_nodes
        self.op, self.encoder, self.x, self.sampler = op, encoder, x, sampler
        self.edge_index = edge_index  # the whole graph, for a message-passing trunk's exact moments
        self.batch_size, self.generator = int(batch_size), generator
        # The module that produces the rows with gradient: the encoder, or its
        # DistributedDataParallel wrapper (whose forward syncs gradients).
        self.train_module: nn.Module = encoder
        self.rows = OperatorRows(op)
        self.subgraphs = None
        self.inputs = encoder_inputs(encoder)
        if self.inputs == "graph":
            layers = getattr(encoder.trunk if self.head is not None else encoder, "num_layers", None)
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
        if self.head is not None:
            return self._ritz_batch(dtype)
        if self.edges is not None:
            eb = self.edges.sample(dtype=dtype)
            f = self.encode(eb.heads, self.train_module)
            with torch.no_grad():
                tf = eb.diag.unsqueeze(-1) * f.detach() + eb.coef.unsqueeze(-1) * self.encode(eb.tails)
            return f, tf, eb.weight
        n_id, weight = self.nodes.sample(dtype=dtype)
        f = self.encode(n_id, self.train_module)
        return f, self.exact_tf(n_id), weight

    def _ritz_batch(self, dtype: torch.dtype) -> Tuple[Tensor, Tensor, Tensor]:
        """The trunk on the batch's neighbourhood (with gradient), its moments averaged, the head solved."""
        n_id, weight = self.nodes.sample(dtype=dtype)
        u_id, apply = self.rows.neighbourhood(n_id)
        h_u = self.encode(u_id, self.head.trunk)
        h = h_u[torch.searchsorted(u_id, n_id)]  # u_id is sorted and holds the batch
        self._trunk_rows = (h, weight)
        with torch.no_grad():
            th = apply(h_u.detach())
            gram, cross = ritz_moments(h, th, weight)
            beta = self.moment_decay
            if self._moments is None:
                self._moments = (gram, cross)
                self._moment_weight = 1.0
            else:  # unnormalised exponential sums; divided by their weight below (bias correction)
                self._moments = (beta * self._moments[0] + gram, beta * self._moments[1] + cross)
                self._moment_weight = beta * self._moment_weight + 1.0
            self._theta = self.head.solve_moments_(self._moments[0] / self._moment_weight,
                                                   self._moments[1] / self._moment_weight, rcond=self.moment_rcond)
            coef = self.head.coef.to(h.dtype)
        return h @ coef, th @ coef, weight

    def loss(self, loss_fn: nn.Module, dtype: Optional[torch.dtype] = None) -> Tensor:
        """The loss of one step; with a RitzHead, the Ritz-residual surrogate whose gradient is the nested
        losses' at the solved head (see the module docstring)."""
        if self.head is None:
            return super().loss(loss_fn, dtype)
        f, tf, w = self.batch(dtype)
        loss = ritz_residual_loss(f, tf, self._theta, w)
        if self.trunk_decorrelation > 0:
            loss = loss + self.trunk_decorrelation * correlation_penalty(*self._trunk_rows)
        self._trunk_rows = None
        return loss

    def state_dict(self) -> Dict[str, Tensor]:
        """The RitzHead's running moment averages (what a checkpoint needs to resume bit for bit)."""
        gram, cross = self._moments if self._moments is not None else (torch.empty(0), torch.empty(0))
        return {"gram": gram, "cross": cross, "weight": torch.tensor(float(self._moment_weight), dtype=torch.float64)}

    def load_state_dict(self, state: Dict[str, Tensor]) -> None:
        gram, cross, weight = state["gram"], state["cross"], state["weight"]
        if not all(isinstance(t, Tensor) for t in (gram, cross, weight)):
            raise TypeError("the moment state must hold tensors 'gram', 'cross' and 'weight'")
        if gram.numel() == 0:
            self._moments, self._moment_weight = None, 0.0
            return
        d = self.head.coef.size(0)
        if gram.shape != (d, d) or cross.shape != (d, d) or weight.numel() != 1:
            raise ValueError(f"moments of shape {tuple(gram.shape)} do not fit a head of width {d}")
        device = self.op.measure.device
        self._moments = (gram.to(device=device, dtype=torch.float64), cross.to(device=device, dtype=torch.float64))
        self._moment_weight = float(weight)

    @torch.no_grad()
    def exact_moments(self, trunk: nn.Module, chunk: int) -> Tuple[Tensor, Tensor]:
        r"""The exact moments :math:`H^\top R H`, :math:`H^\top R\, TH` of ``trunk`` on the whole graph, summed
        over node chunks of ``chunk`` rows (features or a table: memory grows with the chunk, not with ``n``;
        message-passing trunks run one full-graph pass, as PyG's layer-wise inference)."""
        op, n = self.op, self.op.num_nodes
        measure = op.measure.double()
        if self.inputs == "graph":
            h = trunk(self.x, self.edge_index, **graph_size_kwargs(trunk, self.x, n))
            return ritz_moments(h, op.matvec(h.to(op.dtype)), measure)
        return self.rows.moments(lambda u_id: self.encode(u_id, trunk), measure, chunk)

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


def correlation_penalty(h: Tensor, weight: Tensor) -> Tensor:
    r""":math:`\|C - I\|_F^2 / d` for the weighted correlation matrix :math:`C` of the rows ``h`` (``[B, d]``):
    zero for uncorrelated columns. The solved head serves any basis of the trunk's span alike, so the penalty
    mainly steers towards a well-conditioned basis (through the shared trunk parameters it can move the span too)."""
    w = weight.to(h.dtype).unsqueeze(-1)
    gram = (w * h).T @ h / w.sum().clamp_min(torch.finfo(h.dtype).tiny)
    scale = gram.diagonal().clamp_min(torch.finfo(h.dtype).eps).rsqrt()
    corr = scale.unsqueeze(-1) * gram * scale.unsqueeze(0)
    eye = torch.eye(h.size(-1), dtype=h.dtype, device=h.device)
    return (corr - eye).square().sum() / h.size(-1)
