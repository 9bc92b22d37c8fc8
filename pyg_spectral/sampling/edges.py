r"""Edge batches for the quadratic term :math:`E_\rho[f^\top T f]`."""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from ..exceptions import GraphInputError
from ..operators.base import GraphOperator, LaplacianOperator
from .nodes import draw_categorical

__all__ = ["EdgeSampler", "EdgeBatch"]

MODES = ("uniform", "weighted")


class EdgeBatch(NamedTuple):
    """``tf = diag * f[heads] + coef * f[tails]`` estimates ``(Tf)[heads]``; ``weight`` as in :class:`NodeSampler`."""

    heads: Tensor
    tails: Tensor
    diag: Tensor
    coef: Tensor
    weight: Tensor


class EdgeSampler:
    r"""Draw directed edges i.i.d. and estimate :math:`(Tf)` at their heads.

    Write :math:`T = \mathrm{diag}(t) + T_{\mathrm{off}}` and let :math:`p_e`
    be a law on the directed off-diagonal entries :math:`e = (i, j)`, with head
    marginal :math:`q(i) = \sum_j p_{ij}` and conditional :math:`p(j \mid i) =
    p_{ij} / q(i)`. For a batch of :math:`B` draws :math:`(i_b, j_b)`:

    .. math::
        \widehat{Tf}_b = t_{i_b} f(i_b) + \frac{T_{i_b j_b}}{p(j_b \mid i_b)}\, f(j_b),
        \qquad w_b = \frac{\rho(i_b)}{q(i_b)\, B}.

    Then :math:`E[\sum_b w_b\, f(i_b)\, \widehat{Tf}_b] = \sum_i q(i)
    \frac{\rho(i)}{q(i)} f(i) \big(t_i f(i) + \sum_j p(j\mid i)
    \frac{T_{ij}}{p(j \mid i)} f(j)\big) = E_\rho[f\, Tf]`: unbiased. The heads
    are i.i.d. draws from :math:`q`, so with the weights :math:`w_b` they also
    give unbiased Gram estimates, and disjoint parts of the batch are
    independent (the two endpoints of one edge are not, which is why only heads
    enter the Gram).

    Scaling constants of the two modes, for :math:`T = c_0 I + c_1 L_{sym}`
    (:math:`T_{ij} = -c_1 a_{ij} / \sqrt{d_i d_j}`, :math:`N` directed edges,
    :math:`\mathrm{vol} = \sum_i d_i`, uniform :math:`\rho = 1/n`):

    * ``"uniform"``: :math:`p_{ij} = 1/N`, :math:`q(i) = c_i / N`
      (:math:`c_i` the number of neighbours), coefficient
      :math:`T_{ij} c_i`, weight :math:`N / (n\, c_i B)`;
    * ``"weighted"``: :math:`p_{ij} = a_{ij} / \mathrm{vol}`, :math:`q(i) =
      d_i / \mathrm{vol}`, coefficient :math:`-c_1 \sqrt{d_i / d_j}`, weight
      :math:`\mathrm{vol} / (n\, d_i B)` (and :math:`1/B` under the degree
      measure of the random walk: the :math:`\pi`-form with no factors).

    Zero-degree nodes are never heads: with positive measure they make the
    estimate biased, so they raise :class:`GraphInputError`.

    Args:
        op: a one-hop operator (:class:`~pyg_spectral.operators.LaplacianOperator`).
        batch_size: number of edges :math:`B`.
        mode: ``"uniform"`` or ``"weighted"``.
        generator: a ``torch.Generator`` on the operator's device.
    """

    def __init__(self, op: GraphOperator, batch_size: int, mode: str = "uniform",
                 generator: Optional[torch.Generator] = None):
        if not isinstance(op, LaplacianOperator):
            raise ValueError("The edge sampler needs a one-hop operator (filter_degree=1).")
        if mode not in MODES:
            raise ValueError(f"Unknown edge sampling mode {mode!r}; choose one of {MODES}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        lap = op.laplacian
        n = op.num_nodes
        ptr, col, val = lap.crow_indices(), lap.col_indices(), lap.values().double()
        row = torch.repeat_interleave(torch.arange(n, device=ptr.device), ptr[1:] - ptr[:-1])
        off = row != col
        diag_l = scatter(val[~off], row[~off], dim=0, dim_size=n, reduce="sum")
        heads, tails, l_off = row[off], col[off], val[off]
        if heads.numel() == 0:
            raise GraphInputError("The edge sampler has no edges to sample (the graph has no edges).")
        deg = op.degree.double()
        if mode == "uniform":
            p = torch.full_like(l_off, 1.0 / heads.numel())
        else:
            # raw edge weight a_ij from the normalized entry
            raw = l_off.abs() * (deg[heads] * deg[tails]).sqrt() if op.normalization == "sym" \
                else l_off.abs() * deg[heads]
            p = raw / raw.sum()
        q = scatter(p, heads, dim=0, dim_size=n, reduce="sum")
        rho = op.measure.double()
        missing = (q == 0) & (rho > 0)
        if bool(missing.any()):
            raise GraphInputError(
                f"{int(missing.sum())} nodes have degree 0: the edge sampler never draws them, so its estimates "
                "would be biased. Remove isolated nodes (e.g. LargestConnectedComponents) or use sampler='node'."
            )
        self.mode, self.batch_size, self.generator = mode, int(batch_size), generator
        self.num_edges = heads.numel()
        self.heads, self.tails = heads, tails
        # the weighted law is kept as its cumulative sums only (what draw_categorical reads)
        self._cdf = torch.cumsum(p.double(), 0) if mode != "uniform" else None
        self.diag = op.c0 + op.c1 * diag_l
        self.coef = op.c1 * l_off * q[heads] / p
        self.row_weight = rho / q.clamp_min(1e-300)

    def sample(self, batch_size: Optional[int] = None, dtype: torch.dtype = torch.float32) -> EdgeBatch:
        size = self.batch_size if batch_size is None else int(batch_size)
        if self.mode == "uniform":
            e = torch.randint(self.num_edges, (size,), device=self.heads.device, generator=self.generator)
        else:
            e = draw_categorical(self._cdf, size, self.generator)
        h = self.heads[e]
        return EdgeBatch(h, self.tails[e], self.diag[h].to(dtype), self.coef[e].to(dtype),
                         (self.row_weight[h] / size).to(dtype))

    def __repr__(self) -> str:
        return f"EdgeSampler(batch_size={self.batch_size}, mode={self.mode!r}, num_edges={self.num_edges})"
