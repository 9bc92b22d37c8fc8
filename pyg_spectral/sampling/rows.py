r"""Rows of a graph operator: :math:`(Tf)` at a node batch from the outputs at its neighbours."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from ..operators.base import GraphOperator, LaplacianOperator

__all__ = ["OperatorRows"]


def _gather_ranges(ptr: Tensor, rows: Tensor) -> Tuple[Tensor, Tensor]:
    """Positions of the CSR entries of ``rows``, and the batch row each belongs to."""
    start = ptr[rows]
    count = ptr[rows + 1] - start
    owner = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), count)
    first = torch.cumsum(count, 0) - count
    pos = torch.repeat_interleave(start - first, count) + torch.arange(owner.numel(), device=rows.device)
    return pos, owner


class OperatorRows:
    r"""Exact rows :math:`T_{B,:}` of :math:`T = c_0 I + c_1 L` for a node batch :math:`B`.

    :meth:`neighbourhood` returns the nodes :math:`U = \{j : T_{ij} \ne 0, i
    \in B\}` (the batch and its neighbours) and a local sparse map, so that
    :math:`(Tf)_B` is computed from the encoder's outputs at :math:`U` only,
    under ``no_grad`` (the custom gradient of the nested losses needs no
    gradient through :math:`T`). Polynomial filters of degree > 1 reach
    further than one hop and are full-batch only.

    Example:
        >>> import torch
        >>> from pyg_spectral.datasets import cycle_graph
        >>> from pyg_spectral.operators import build_operator
        >>> op = build_operator("laplacian", cycle_graph(8).edge_index, num_nodes=8, dtype=torch.float64)
        >>> f = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> n_id = torch.tensor([0, 5])
        >>> u_id, apply = OperatorRows(op).neighbourhood(n_id)
        >>> bool(torch.allclose(apply(f[u_id]), op.matvec(f)[n_id]))   # (T f)[n_id] from f on the neighbourhood
        True
    """

    def __init__(self, op: GraphOperator):
        if not isinstance(op, LaplacianOperator):
            raise ValueError(
                f"Mini-batch training needs a one-hop operator; {op.__class__.__name__} (e.g. filter_degree > 1) "
                "is full-batch only. Use filter_degree=1 with batch_size, or batch_size=None."
            )
        lap = op.laplacian
        self.op = op
        self.ptr = lap.crow_indices()
        self.col = lap.col_indices()
        self.val = lap.values()
        self.c0, self.c1 = float(op.c0), float(op.c1)

    def neighbourhood(self, n_id: Tensor):
        """Return ``(u_id, apply)``: ``apply(f_u)`` gives ``(T f)[n_id]`` from ``f`` at ``u_id``."""
        pos, owner = _gather_ranges(self.ptr, n_id)
        batch = torch.arange(n_id.numel(), device=n_id.device)
        cols = torch.cat([self.col[pos], n_id])
        owner = torch.cat([owner, batch])
        vals = torch.cat([self.c1 * self.val[pos], torch.full_like(n_id, 0, dtype=self.val.dtype) + self.c0])
        u_id, local = torch.unique(cols, return_inverse=True)
        size = n_id.numel()

        def apply(f_u: Tensor) -> Tensor:
            out = torch.zeros(size, f_u.size(1), dtype=f_u.dtype, device=f_u.device)
            return out.index_add_(0, owner, vals.to(f_u.dtype).unsqueeze(-1) * f_u[local])

        return u_id, apply
