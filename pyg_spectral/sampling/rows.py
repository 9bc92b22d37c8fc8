r"""Rows of a graph operator: :math:`(Tf)` at a node batch from the outputs at its neighbours."""
from __future__ import annotations

from typing import Callable, Tuple, Union

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

    @torch.no_grad()
    def moments(self, f: Union[Tensor, Callable[[Tensor], Tensor]], weight: Tensor, chunk: int = 8192
                ) -> Tuple[Tensor, Tensor]:
        r"""The exact moments :math:`f^\top R f` and :math:`f^\top R\, Tf` of every node's rows ``f``
        (``[n, d]``, e.g. an MLP's inputs, or a function from node ids to their rows, e.g. a trunk on its
        inputs; ``weight`` the diagonal of :math:`R`), summed over node chunks of ``chunk`` rows in float64:
        memory of a chunk's neighbourhood, not of the graph.

        >>> import torch
        >>> from pyg_spectral.datasets import cycle_graph
        >>> from pyg_spectral.operators import build_operator
        >>> from pyg_spectral.spectrum.ritz import ritz_moments
        >>> op = build_operator("laplacian", cycle_graph(9).edge_index, num_nodes=9, dtype=torch.float64)
        >>> f = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> M, Q = OperatorRows(op).moments(f, op.measure, chunk=4)
        >>> M0, Q0 = ritz_moments(f, op.matvec(f), op.measure)
        >>> bool(torch.allclose(M, M0) and torch.allclose(Q, Q0))
        True
        """
        from ..spectrum.ritz import ritz_moments

        rows = f.__getitem__ if isinstance(f, Tensor) else f
        n = weight.numel()
        if n != self.op.num_nodes or (isinstance(f, Tensor) and (f.dim() != 2 or f.size(0) != n)):
            shape = tuple(f.shape) if isinstance(f, Tensor) else "a function"
            raise ValueError(f"moments needs a weight per node and [n, d] rows of every node "
                             f"(n = {self.op.num_nodes}), got {n} weights and rows {shape}.")
        if int(chunk) < 1:
            raise ValueError(f"chunk must be a positive number of rows, got {chunk!r}.")
        gram = cross = None
        for start in range(0, n, int(chunk)):
            n_id = torch.arange(start, min(start + int(chunk), n), device=weight.device)
            u_id, apply = self.neighbourhood(n_id)
            f_u = rows(u_id).double()
            g, c = ritz_moments(f_u[torch.searchsorted(u_id, n_id)], apply(f_u), weight[n_id])
            gram, cross = (g, c) if gram is None else (gram + g, cross + c)
        return gram, cross
