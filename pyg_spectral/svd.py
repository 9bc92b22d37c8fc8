r"""SVD mode: the top singular triplets of a directed or bipartite graph with two free tables.

For :math:`K = D_{out}^{-1/2} A D_{in}^{-1/2}`
(:class:`~pyg_spectral.operators.DirectedNormalizedAdjacency`), learn :math:`f_1..f_m` on the sources and
:math:`g_1..g_m` on the targets with NestedLoRA in SVD form
(:func:`~pyg_spectral.losses.svd.nested_lora_svd_loss`). As in EVD mode the tables start at the minimiser
inside their random initial spans, train by heavy-ball SGD, and finish with Rayleigh–Ritz for singular
triplets (:func:`~pyg_spectral.spectrum.svd.ritz_svd`), with residuals
:math:`\max(\|Kv - \sigma u\|, \|K^\top u - \sigma v\|)`.

Example:
    >>> from pyg_spectral.svd import NeuralSpectralSVD
    >>> from pyg_spectral.datasets import directed_sbm_graph
    >>> model = NeuralSpectralSVD(4, progress=False).fit(directed_sbm_graph(300, 3, 3000, seed=0))
    >>> model.singular_values_.shape, bool(model.residuals_.max() <= model.tol)
    (torch.Size([4]), True)
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .base import SpectralEstimator
from .exceptions import ConvergenceWarning
from .losses.nesting import nesting_masks
from .losses.svd import nested_lora_svd_loss
from .operators.directed import DirectedNormalizedAdjacency
from .spectrum.ritz import column_signs, ritz_start
from .spectrum.svd import ritz_svd, svd_residuals
from .training import build_optimizer, train_loop

__all__ = ["NeuralSpectralSVD", "ritz_svd", "nested_lora_svd_loss"]


class NeuralSpectralSVD(SpectralEstimator):
    r"""Learn the top ``num_components`` singular triplets of a directed graph's normalized adjacency.

    Args:
        num_components: number :math:`k` of triplets.
        nesting: ``"joint"`` or ``"sequential"``.
        max_steps, tol, eval_every: stop when the max residual is ``<= tol`` (checked every
            ``eval_every`` steps) or at ``max_steps``.
        lr: heavy-ball step (``None``: 0.2); ``optimizer``, ``momentum``, ``lr_schedule`` as in
            :class:`~pyg_spectral.NeuralSpectralEmbedding` (``"auto"``: SGD, constant).
        n_oversamples: guard functions (``"auto"``: ``max(8, k // 2)``).
        device, seed, progress, dtype: as in :class:`~pyg_spectral.NeuralSpectralEmbedding`.

    Bipartite graphs: give ``data.num_rows`` and ``data.num_cols``.

    Attributes:
        singular_values_ (Tensor): ``[k]`` descending (float64).
        left_singular_vectors_, right_singular_vectors_ (Tensor): ``[rows, k]``, ``[cols, k]`` unit columns,
            the largest-magnitude entry of each left vector positive.
        residuals_, history_, n_iter_, converged_, fit_time_, n_components_learned_, operator_.
    """

    def __init__(self, num_components: int, nesting: Optional[str] = "joint", max_steps: int = 10000,
                 tol: float = 1e-4, lr: Optional[float] = None, device: Optional[Union[str, torch.device]] = None,
                 seed: int = 0, progress: bool = True, *, n_oversamples: Union[int, str] = "auto",
                 optimizer: str = "auto", momentum: float = 0.9, lr_schedule: str = "auto", eval_every: int = 25,
                 dtype: torch.dtype = torch.float32):
        self.num_components, self.nesting, self.max_steps, self.tol = num_components, nesting, max_steps, tol
        self.lr, self.device, self.seed, self.progress = lr, device, seed, progress
        self.n_oversamples, self.optimizer, self.momentum = n_oversamples, optimizer, momentum
        self.lr_schedule, self.eval_every, self.dtype = lr_schedule, eval_every, dtype

    _fitted_attribute = "singular_values_"

    @classmethod
    def fit_for(cls, est, data):
        """Fit on behalf of a :class:`~pyg_spectral.NeuralSpectralEmbedding` with ``mode="svd"`` (same
        parameters) and copy the fitted attributes onto it; returns ``est``."""
        if est.encoder != "embedding" or est.batch_size is not None or est.loss != "nested_lora":
            raise ValueError("mode='svd' supports encoder='embedding', loss='nested_lora' and full-batch "
                             "training (batch_size=None).")
        svd = cls(**{name: getattr(est, name) for name in cls._param_names()}).fit(data)
        for name, value in vars(svd).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(est, name, value)
        est.embedding_ = svd.left_singular_vectors_
        return est

    def _operator(self, data, device) -> DirectedNormalizedAdjacency:
        bipartite = hasattr(data, "num_rows") and hasattr(data, "num_cols")
        return DirectedNormalizedAdjacency(
            data.edge_index, getattr(data, "edge_weight", None), getattr(data, "num_rows", data.num_nodes),
            getattr(data, "num_cols", data.num_nodes), dtype=self.dtype, bipartite=bipartite).to(device)

    def _initial_tables(self, op: DirectedNormalizedAdjacency, m: int, device) -> Tuple[nn.Parameter, nn.Parameter]:
        gen = torch.Generator().manual_seed(int(self.seed))
        f0 = torch.randn(op.num_rows, m, generator=gen, dtype=torch.float64)
        g0 = torch.randn(op.num_cols, m, generator=gen, dtype=torch.float64)
        s, u, vv = ritz_svd(op, f0.to(device), g0.to(device))  # start at the minimiser in the random spans
        r = s.numel()
        f0[:, :r], g0[:, :r] = ritz_start(u, s).cpu(), ritz_start(vv, s).cpu()
        return (nn.Parameter(f0.to(device=device, dtype=self.dtype)),
                nn.Parameter(g0.to(device=device, dtype=self.dtype)))

    def fit(self, data, y: Any = None) -> "NeuralSpectralSVD":
        """Learn the singular triplets of ``data``'s graph (``edge_index``, optional ``edge_weight``)."""
        start = time.perf_counter()
        k = self.num_components
        device = torch.device(self.device) if self.device is not None else data.edge_index.device
        op = self._operator(data, device)
        if k >= min(op.num_rows, op.num_cols):
            raise ValueError(f"num_components={k} must be smaller than the number of rows ({op.num_rows}) and "
                             f"columns ({op.num_cols}).")
        p = max(8, k // 2) if self.n_oversamples == "auto" else int(self.n_oversamples)
        m = min(k + p, op.num_rows, op.num_cols)
        self.n_components_learned_ = m
        v, W = nesting_masks(m, self.nesting)
        v, W = v.to(device, self.dtype), W.to(device, self.dtype)
        F, G = self._initial_tables(op, m, device)
        scale = (1.0 / v).detach()
        F.register_hook(lambda grad: grad * scale)  # same preconditioner as the EVD table (joint nesting)
        G.register_hook(lambda grad: grad * scale)
        lr = 0.2 if self.lr is None else self.lr
        opt, sched = build_optimizer([F, G], "sgd" if self.optimizer == "auto" else self.optimizer, lr,
                                     "constant" if self.lr_schedule == "auto" else self.lr_schedule, self.max_steps,
                                     self.momentum)
        sequential = self.nesting == "sequential"

        def step() -> Tensor:
            opt.zero_grad(set_to_none=True)
            loss = nested_lora_svd_loss(F, G, op.matvec(G), v, W, sequential)
            loss.backward()
            opt.step()
            sched.step()
            return loss.detach()

        def evaluate() -> Dict[str, Any]:
            s, u, vv = ritz_svd(op, F.detach(), G.detach())
            if s.numel() < k:
                return {"residual": math.inf, "singular_values": s.tolist()}
            res = svd_residuals(op, s[:k], u[:, :k], vv[:, :k])
            return {"residual": float(res.max()), "singular_values": s[:k].tolist()}

        self.history_, self.n_iter_, self.converged_ = train_loop(
            step, evaluate, max_steps=self.max_steps, eval_every=self.eval_every, tol=self.tol,
            progress=self.progress, desc=f"svd k={k}", lr_fn=lambda: opt.param_groups[0]["lr"])
        s, u, vv = ritz_svd(op, F.detach(), G.detach())
        if s.numel() < k:
            raise RuntimeError(f"Only {s.numel()} of the {k} requested singular triplets were learned.")
        s, u, vv = s[:k], u[:, :k], vv[:, :k]
        sign = column_signs(u)
        u, vv = u * sign, vv * sign
        self.operator_ = op
        self.singular_values_ = s.cpu()
        self.left_singular_vectors_ = u.to(self.dtype)
        self.right_singular_vectors_ = vv.to(self.dtype)
        self.residuals_ = svd_residuals(op, s, u, vv).cpu()
        self.fit_time_ = time.perf_counter() - start
        if not self.converged_:
            warnings.warn(f"Stopped at max_steps={self.max_steps} with max residual "
                          f"{float(self.residuals_.max()):.2e} > tol={self.tol:g}.", ConvergenceWarning, stacklevel=2)
        return self
