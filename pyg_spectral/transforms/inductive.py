r"""An inductive positional-encoding model: one GNN trained across many graphs.

Eigen-solvers start from scratch on every graph. Here a GNN, fed each node's
log-degree and fixed random features (message passing cannot break symmetries
without them), is trained on a collection of graphs with the nested LoRA loss
*per graph* (a mini-batch of graphs is a block-diagonal operator, but the
moments :math:`M_g, Q_g` are taken graph by graph, so the target is each
graph's own bottom eigenspace, not the union's). On a new graph, one forward
pass gives :math:`m = k + 1 + p` functions, optionally refined by a few steps
of subspace iteration with :math:`T = I - L/2` (each one sparse matmul and an
:math:`m`-column QR), then Rayleigh–Ritz on their span gives the eigenpairs.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.loader import DataLoader
from torch_geometric.utils import degree, scatter
from tqdm.auto import tqdm

from ..encoders.gnn import GNN_MODELS
from ..losses.nesting import nesting_masks
from ..operators import build_operator
from ..spectrum import fix_signs, normalize_columns, rayleigh_ritz

__all__ = ["InductivePEModel"]

FORMAT_VERSION = 1


class InductivePEModel(nn.Module):
    """GNN that outputs ``k + 1 + p`` node functions whose span approximates the bottom Laplacian eigenspace.

    Args:
        k: number of non-trivial eigenvectors wanted.
        n_oversamples: guard functions :math:`p`.
        gnn: ``"gin"``, ``"gcn"`` or ``"sage"``.
        hidden_channels, num_layers: GNN size.
        random_features: number of fixed random node features.
        seed: seed of the random features used at inference.
    """

    def __init__(self, k: int, n_oversamples: int = 8, gnn: str = "gin", hidden_channels: int = 64,
                 num_layers: int = 6, random_features: int = 16, seed: int = 0):
        super().__init__()
        if gnn not in GNN_MODELS:
            raise ValueError(f"Unknown gnn {gnn!r}; choose one of {sorted(GNN_MODELS)}.")
        self.config = dict(k=int(k), n_oversamples=int(n_oversamples), gnn=gnn, hidden_channels=int(hidden_channels),
                           num_layers=int(num_layers), random_features=int(random_features), seed=int(seed))
        self.num_functions = int(k) + 1 + int(n_oversamples)
        self.gnn = GNN_MODELS[gnn](in_channels=1 + int(random_features), hidden_channels=int(hidden_channels),
                                   num_layers=int(num_layers), out_channels=self.num_functions)

    def features(self, edge_index: Tensor, num_nodes: int, generator: Optional[torch.Generator] = None) -> Tensor:
        deg = degree(edge_index[0], num_nodes, dtype=torch.float32)
        r = self.config["random_features"]
        if generator is None:
            generator = torch.Generator().manual_seed(self.config["seed"])
        noise = torch.randn(num_nodes, r, generator=generator).to(edge_index.device)
        return torch.cat([torch.log1p(deg).unsqueeze(-1), noise], dim=-1)

    def forward(self, edge_index: Tensor, num_nodes: int, generator: Optional[torch.Generator] = None) -> Tensor:
        return self.gnn(self.features(edge_index, num_nodes, generator), edge_index)

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
        v, W = nesting_masks(self.num_functions, "joint")
        v, W = v.float(), W.float()
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.01)
        self.train()
        self.history_: List[float] = []
        step = 0
        with tqdm(total=steps, desc="inductive PE", disable=not progress, leave=False) as bar:
            while step < steps:
                for batch in loader:
                    n = batch.num_nodes
                    op = build_operator("laplacian", batch.edge_index, None, n)
                    f = self(batch.edge_index, n, generator=gen)  # fresh random features each step
                    tf = op.matvec(f)
                    count = torch.bincount(batch.batch, minlength=batch.num_graphs).float()
                    rho = (1.0 / count)[batch.batch].unsqueeze(-1)
                    q = scatter(rho * f * tf, batch.batch, dim=0, dim_size=batch.num_graphs, reduce="sum")
                    outer = (rho * f).unsqueeze(2) * f.unsqueeze(1)
                    M = scatter(outer, batch.batch, dim=0, dim_size=batch.num_graphs, reduce="sum")
                    loss = (-2.0 * (q * v).sum(1) + (W * M * M).sum((1, 2))).mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    self.history_.append(float(loss.detach()))
                    step += 1
                    bar.update(1)
                    if step >= steps:
                        break
        self.eval()
        return self

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def component_eigenpairs(self, edge_index: Tensor, edge_weight: Optional[Tensor], num_nodes: int,
                             wanted: int, refine_steps: int = 0) -> Tuple[Tensor, Tensor]:
        """Non-trivial eigenpairs (``wanted - 1`` of them) of a connected graph, from a forward pass."""
        op = build_operator("laplacian", edge_index, edge_weight, num_nodes, dtype=torch.float64)
        f = self(edge_index, num_nodes).double()
        for _ in range(int(refine_steps)):
            f, _ = torch.linalg.qr(op.matvec(f))
        theta, coef = rayleigh_ritz(f, op.matvec(f), op.measure)
        r = min(wanted, theta.numel())
        u = fix_signs(normalize_columns(f @ coef[:, :r]))
        lam = op.to_original(theta[:r])
        return lam[1:], u[:, 1:]

    # ---------------------------------------------------------- persistence
    def save(self, path) -> None:
        from .. import __version__

        torch.save({"format": FORMAT_VERSION, "library_version": __version__, "config": self.config,
                    "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path) -> "InductivePEModel":
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
            raise ValueError(f"{path} is not a saved pyg_spectral PE model.")
        if blob.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} has format {blob.get('format')!r}; this version reads format {FORMAT_VERSION}.")
        model = cls(**blob["config"])
        try:
            model.load_state_dict(blob["state_dict"])
        except RuntimeError as exc:
            raise ValueError(f"{path}: parameters do not match the saved configuration: "
                             f"{str(exc).splitlines()[0]}") from None
        return model.eval()
