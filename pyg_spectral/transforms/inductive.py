r"""An inductive positional-encoding model: one GNN trained across many graphs.

Eigen-solvers start from scratch on every graph. Here a GNN, fed each node's
log-degree and random features (message passing cannot break symmetries
without them), is trained on a collection of graphs with the nested LoRA loss
*per graph* (a mini-batch of graphs is a block-diagonal operator, but the
moments :math:`M_g, Q_g` are taken graph by graph, so the target is each
graph's own bottom eigenspace, not the union's).

On new graphs — one, or a whole ``Batch`` at once — one forward pass gives
:math:`m = k + 1 + p` functions per graph; ``refine_steps`` sparse matmuls of
Chebyshev-filtered subspace iteration
(:class:`~pyg_spectral.operators.BlockDiagonalLaplacian`), whose first cutoff
comes from the network's own Rayleigh quotients, with Rayleigh–Ritz after each
round, turn them into eigenpairs (``refine_steps=0``: Rayleigh–Ritz of the
forward pass alone). All graphs of a batch share each sparse matmul and each
batched dense kernel; float32 by default (about twice as fast as float64 on
CPU, accurate to ~1e-6).
"""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.loader import DataLoader
from torch_geometric.utils import degree, to_torch_csr_tensor

from ..utils.io import safe_torch_load
from ..utils.sparse import quiet_csr
from ..utils.workspace import thread_workspace
from ..encoders.gnn import GNN_MODELS
from ..losses.grouped import GroupedNestedLoRALoss
from ..operators import build_operator
from ..operators.block_diagonal import BlockDiagonalLaplacian
from ..training.objective import GraphBatchObjective
from ..training.trainer import Trainer

__all__ = ["InductivePEModel"]

FORMAT_VERSION = 1
#: Largest Chebyshev degree per refinement round, per dtype: the growth of one round must stay within
#: what that precision resolves (:data:`~pyg_spectral.spectrum.growth.MAX_GROWTH`).
MAX_ROUND_DEGREE = {torch.float64: 16, torch.float32: 10}


def refinement_schedule(refine_steps: int, dtype: torch.dtype = torch.float64) -> Tuple[int, int]:
    """Split a budget of ``refine_steps`` sparse matmuls into ``(degree, rounds)`` of Chebyshev filtering:
    as few rounds as possible with degree at most :data:`MAX_ROUND_DEGREE` of ``dtype`` (``degree * rounds``
    may fall short of the budget by less than ``rounds``)."""
    steps = int(refine_steps)
    if steps < 0:
        raise ValueError(f"refine_steps must be >= 0, got {refine_steps}.")
    if dtype not in MAX_ROUND_DEGREE:
        raise ValueError(f"refinement runs in float32 or float64, got {dtype}.")
    if steps == 0:
        return 0, 0
    rounds = math.ceil(steps / MAX_ROUND_DEGREE[dtype])
    return steps // rounds, rounds


def _noise_table(rows: int, cols: int, seed: int, block: int = 1024) -> Tensor:
    """Seeded normals whose row ``i`` does not depend on ``rows`` (blocks of ``block`` rows, one generator
    each): ``torch.randn(n)`` is not a prefix of ``torch.randn(n + 1)`` on CPU."""
    blocks = [torch.randn(block, cols, generator=torch.Generator().manual_seed(int(seed) * 1_000_003 + b))
              for b in range(max(1, math.ceil(rows / block)))]
    return torch.cat(blocks)[:rows]


#: What a loaded configuration may ask for: a crafted file must not make the constructor allocate gigabytes.
CONFIG_LIMITS = {"k": 1024, "n_oversamples": 1024, "hidden_channels": 4096, "num_layers": 64, "random_features": 4096}


def _checked_config(config, path) -> dict:
    """A saved model's configuration, refused unless it is one this class writes and within
    :data:`CONFIG_LIMITS`."""
    names = set(CONFIG_LIMITS) | {"gnn", "seed"}
    if not isinstance(config, dict) or set(config) - names:
        raise ValueError(f"{path}: the saved configuration has unknown entries "
                         f"{sorted(set(config) - names) if isinstance(config, dict) else type(config).__name__}.")
    for name, limit in CONFIG_LIMITS.items():
        value = config.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise ValueError(f"{path}: the saved configuration asks for {name}={value!r}; this version loads "
                             f"integers in [0, {limit}].")
    if config.get("gnn", "gcn") not in GNN_MODELS or not isinstance(config.get("seed", 0), int):
        raise ValueError(f"{path}: the saved configuration names gnn={config.get('gnn')!r}, "
                         f"seed={config.get('seed')!r}.")
    return config


class InductivePEModel(nn.Module):
    """GNN that outputs ``k + 1 + p`` node functions whose span approximates the bottom Laplacian eigenspace.

    Args:
        k: number of non-trivial eigenvectors wanted.
        n_oversamples: guard functions :math:`p`.
        gnn: ``"gcn"``, ``"gin"`` or ``"sage"``.
        hidden_channels, num_layers: GNN size (defaults: the configuration measured in
            ``benchmarks/pe_throughput.py``; the forward pass is part of every encoding, so it is kept small).
        random_features: number of random node features.
        seed: seed of the random features used at inference.

    Example:
        >>> from torch_geometric.data import Batch
        >>> from pyg_spectral.datasets import cycle_graph, grid_graph
        >>> model = InductivePEModel(k=2).fit([cycle_graph(n) for n in range(8, 30)], steps=20, progress=False)
        >>> b = Batch.from_data_list([cycle_graph(12), grid_graph(3, 4)])
        >>> theta, u = model.encode(b.edge_index, None, b.num_nodes, b.batch, b.num_graphs, refine_steps=24)
        >>> round(float(theta[0, 0]), 5)         # C_12's Fiedler value 1 - cos(pi / 6)
        0.13397
    """

    #: Rayleigh–Ritz before the first filter (see ``BlockDiagonalLaplacian.subspace_iteration``): not for a
    #: trained network, whose columns approximate eigenvectors and whose Rayleigh quotients set the first filter.
    initial_ritz = False

    def __init__(self, k: int, n_oversamples: int = 8, gnn: str = "gcn", hidden_channels: int = 32,
                 num_layers: int = 4, random_features: int = 16, seed: int = 0):
        super().__init__()
        if gnn not in GNN_MODELS:
            raise ValueError(f"Unknown gnn {gnn!r}; choose one of {sorted(GNN_MODELS)}.")
        self.config = dict(k=int(k), n_oversamples=int(n_oversamples), gnn=gnn, hidden_channels=int(hidden_channels),
                           num_layers=int(num_layers), random_features=int(random_features), seed=int(seed))
        self.num_functions = int(k) + 1 + int(n_oversamples)
        # The GNN runs on a sparse CSR adjacency built once per graph batch (for GCN: already normalized,
        # self-loops included, as gcn_norm does), one sparse matmul per layer.
        extra = dict(normalize=False) if gnn == "gcn" else {}
        # Initialised from ``seed`` (not the global RNG, which is left as it was): one seed, one model.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.gnn = GNN_MODELS[gnn](in_channels=1 + int(random_features), hidden_channels=int(hidden_channels),
                                       num_layers=int(num_layers), out_channels=self.num_functions, **extra)

    def adjacency(self, edge_index: Tensor, num_nodes: int, laplacian: Optional[Tensor] = None,
                  degree_: Optional[Tensor] = None) -> Tensor:
        r"""The sparse CSR matrix the GNN aggregates with (GCN: :math:`\tilde D^{-1/2}(A + I)\tilde D^{-1/2}`,
        :math:`\tilde D = D + I`, self-loops of the input replaced by weight-1 loops as the Laplacian ignores
        them). Given the CSR ``laplacian`` :math:`I - D^{-1/2} A D^{-1/2}` of the same graph and its weighted
        ``degree_``, GCN's matrix is read off its entries (same pattern) instead of being rebuilt."""
        with quiet_csr():
            if self.config["gnn"] != "gcn":
                return to_torch_csr_tensor(edge_index.flip(0), None, size=(num_nodes, num_nodes))
            if laplacian is None:
                from ..utils.sparse import laplacian_csr

                weight = torch.ones(edge_index.size(1), dtype=torch.float32, device=edge_index.device)
                laplacian, degree_ = laplacian_csr(edge_index, weight, num_nodes, "sym")
            crow, col, values = laplacian.crow_indices(), laplacian.col_indices(), laplacian.values()
            row = torch.repeat_interleave(torch.arange(num_nodes, device=crow.device), crow.diff())
            d = degree_.to(torch.float32)
            # off the diagonal: -L_ij sqrt(d_i d_j) / sqrt((d_i + 1)(d_j + 1)) = w_ij / sqrt((d_i + 1)(d_j + 1))
            ratio = (d / (d + 1.0)).sqrt()
            weight = -values.to(torch.float32) * ratio[row] * ratio[col]
            weight = torch.where(row == col, (1.0 / (d + 1.0))[row], weight)
            if weight.numel() < 2**31 - 1 and num_nodes < 2**31 - 1:
                # int32 indices: the sparse kernel would otherwise convert them at every layer
                crow, col = crow.to(torch.int32), col.to(torch.int32)
            return torch.sparse_csr_tensor(crow, col, weight, (num_nodes, num_nodes), check_invariants=False)

    def features(self, edge_index: Tensor, num_nodes: int, generator: Optional[torch.Generator] = None,
                 position: Optional[Tensor] = None) -> Tensor:
        """Log-degree and random features. With a ``generator`` (training) the noise is fresh; without, node
        ``v`` gets row ``position[v]`` (its index inside its own graph; default ``arange(num_nodes)``) of one
        fixed, seeded table, so a graph's features do not depend on the other graphs of its batch."""
        deg = degree(edge_index[0], num_nodes, dtype=torch.float32)
        r = self.config["random_features"]
        if generator is not None:
            noise = torch.randn(num_nodes, r, generator=generator).to(edge_index.device)
        else:
            rows = int(position.max()) + 1 if position is not None and position.numel() else num_nodes
            table = _noise_table(rows, r, self.config["seed"]).to(edge_index.device)
            noise = table[:num_nodes] if position is None else table[position]
        return torch.cat([torch.log1p(deg).unsqueeze(-1), noise], dim=-1)

    def forward(self, edge_index: Tensor, num_nodes: int, generator: Optional[torch.Generator] = None,
                position: Optional[Tensor] = None, laplacian: Optional[Tensor] = None,
                degree_: Optional[Tensor] = None) -> Tensor:
        """The ``m`` node functions (``laplacian``, ``degree_``: optional, see :meth:`adjacency`)."""
        x = self.features(edge_index, num_nodes, generator, position)
        adjacency = self.adjacency(edge_index, num_nodes, laplacian, degree_)
        if self.training or torch.is_grad_enabled() or not self._plain_gcn():
            return self.gnn(x, adjacency)
        # Inference, GCN: the same layers, A (x W^T) + b, each as one sparse addmm (bias folded in) and an
        # in-place ReLU, the hidden blocks in this thread's reused buffers (PyG's layer allocates the product,
        # the bias sum and the activation separately: 1.5x the time, and fresh blocks page-fault).
        # A layer that widens aggregates first, (A x) W^T: fewer columns through the sparse product.
        ws, n = thread_workspace(), x.size(0)
        last = len(self.gnn.convs) - 1
        for i, conv in enumerate(self.gnn.convs):
            weight = conv.lin.weight  # [out, in]
            shape = (n, weight.size(0))
            if i == last:  # returned to the caller: a tensor of its own
                out = torch.empty(shape, dtype=x.dtype, device=x.device)
            else:
                out = ws.get(f"gcn.hidden{i % 2}", shape, x.dtype, x.device)
            if weight.size(1) < weight.size(0):
                ax = ws.get("gcn.aggregate", (n, weight.size(1)), x.dtype, x.device)
                torch.addmm(ax, adjacency, x, beta=0.0, out=ax)
                torch.addmm(conv.bias, ax, weight.t(), out=out)
            else:
                h = torch.mm(x, weight.t(), out=ws.get("gcn.product", shape, x.dtype, x.device))
                torch.addmm(conv.bias.expand(shape), adjacency, h, out=out)
            if i < last:
                out.relu_()
            x = out
        return x

    def _plain_gcn(self) -> bool:
        """Whether the GNN is the default GCN stack (ReLU between layers, no norm, no jumping knowledge)."""
        g = self.gnn
        return (self.config["gnn"] == "gcn" and isinstance(g.act, nn.ReLU) and getattr(g, "jk_mode", None) is None
                and all(isinstance(norm, nn.Identity) for norm in g.norms)
                and all(conv.bias is not None for conv in g.convs))

    # ------------------------------------------------------------- training
    def fit(self, graphs: Iterable, steps: int = 2000, batch_graphs: int = 32, lr: float = 3e-3,
            progress: bool = True, seed: int = 0) -> "InductivePEModel":
        """Train on a collection of PyG graphs with the per-graph nested LoRA loss (joint nesting)."""
        from torch_geometric.data import Data

        # Structure only: PEs depend on the graph, and mixed attributes would not collate.
        graphs = [Data(edge_index=g.edge_index, num_nodes=g.num_nodes) for g in graphs]
        if not graphs:
            raise ValueError("fit needs at least one training graph.")
        gen = torch.Generator().manual_seed(int(seed))
        loader = DataLoader(graphs, batch_size=batch_graphs, shuffle=True, generator=gen)

        def encode(batch) -> Tuple[Tensor, Tensor]:
            op = build_operator("laplacian", batch.edge_index, None, batch.num_nodes)
            # fresh random features each step; autograd differentiates through L f
            f = self(batch.edge_index, batch.num_nodes, generator=gen, laplacian=op.laplacian, degree_=op.degree)
            return f, op.matvec(f)

        trainer = Trainer(self, optimizer="adam", lr=lr, lr_schedule="cosine", max_steps=steps, eval_every=1,
                          tol=-math.inf, progress=progress, desc="inductive PE")
        result = trainer.run(GraphBatchObjective(loader, encode), GroupedNestedLoRALoss(self.num_functions),
                             lambda model: {"residual": math.inf})  # no evaluation: a fixed budget of steps
        self.history_: List[float] = [record["loss"] for record in result.history]
        return self

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def encode(self, edge_index: Tensor, edge_weight: Optional[Tensor], num_nodes: int, batch: Tensor,
               num_graphs: int, refine_steps: int = 0, dtype: torch.dtype = torch.float32) -> Tuple[Tensor, Tensor]:
        r"""Non-trivial Ritz pairs of a batch of connected graphs (each of at least two nodes, nodes of a
        graph contiguous, ``batch`` sorted): one forward pass, then ``refine_steps`` sparse matmuls of
        Chebyshev-filtered subspace iteration (:func:`refinement_schedule`; Rayleigh–Ritz after each round,
        or of the forward pass when 0), all in ``dtype``
        (float32: about twice as fast as float64 on CPU, accurate to ~1e-6; float64 to converge further).

        The working blocks (three ``[P, m]`` padded blocks, the GCN's hidden layers) are kept between
        calls, per thread, so that the next batch does not page-fault them in again (~20% of a batch's
        time, measured): about 40 MB for batches of 100 graphs of ~500 nodes;
        ``pyg_spectral.utils.workspace.thread_workspace().clear()`` releases them.

        Returns:
            ``(theta, u)``: eigenvalues of :math:`L_{sym}` ``[num_graphs, m]`` ascending (``inf`` past a
            small graph's :math:`n_g - 1`), eigenvectors ``[num_nodes, m]`` (``dtype``, unit norm per graph,
            signed by :func:`~pyg_spectral.spectrum.fix_signs`'s rule graph by graph).
        """
        degree_, rounds = refinement_schedule(refine_steps, dtype)
        op = BlockDiagonalLaplacian(edge_index, num_nodes, batch, num_graphs, edge_weight, dtype=dtype)
        f = self(edge_index, num_nodes, position=op.position, laplacian=op.laplacian, degree_=op.degree)
        return op.solver.subspace_iteration(f, degree_, rounds, initial_ritz=self.initial_ritz, fix_signs=True,
                                     workspace=thread_workspace())

    # ---------------------------------------------------------- persistence
    def save(self, path) -> None:
        from ..version import __version__

        torch.save({"format": FORMAT_VERSION, "library_version": __version__, "config": self.config,
                    "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path) -> "InductivePEModel":
        blob = safe_torch_load(path, allow_pyg=False)  # tensors and plain containers only: nothing runs
        if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
            raise ValueError(f"{path} is not a saved pyg_spectral PE model.")
        if blob.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} has format {blob.get('format')!r}; this version reads format {FORMAT_VERSION}.")
        model = cls(**_checked_config(blob["config"], path))
        try:
            model.load_state_dict(blob["state_dict"])
        except RuntimeError as exc:
            raise ValueError(f"{path}: parameters do not match the saved configuration: "
                             f"{str(exc).splitlines()[0]}") from None
        return model.eval()
