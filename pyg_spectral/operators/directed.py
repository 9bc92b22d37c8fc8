r"""Normalized adjacency of a directed (or bipartite) graph, for singular value decompositions."""
from __future__ import annotations

from typing import Optional

import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.utils import remove_self_loops, scatter

from ..exceptions import GraphInputError
from ..utils.sparse import cast_normalized, normalization_weights, quiet_csr, to_csr
from ..utils.validation import check_dtype, check_graph

__all__ = ["DirectedNormalizedAdjacency"]


class DirectedNormalizedAdjacency:
    r""":math:`K = D_{out}^{-1/2} A\, D_{in}^{-1/2}` for directed edges :math:`i \to j` (:math:`A_{ij} = w_{ij}`).

    Its singular vectors are the left (sources) and right (targets) spectral
    embeddings of a directed graph; the top singular value is 1 on a weakly
    connected graph with positive degrees. Zero degrees are handled as PyG
    does for the undirected case: a node without out-edges has a zero row, a
    node without in-edges a zero column (singular value 0 directions), never
    a division by zero. Self-loops and zero-weight edges are dropped, parallel
    edges summed, and weights whose degrees would overflow or underflow
    ``dtype`` rescaled first (the matrix does not change; the stored degrees
    are scaled by the same power of two). ``num_rows != num_cols``
    (bipartite graphs: ``edge_index[0]`` indexes rows, ``edge_index[1]``
    columns) is allowed.
    """

    def __init__(self, edge_index: Tensor, edge_weight: Optional[Tensor] = None, num_rows: Optional[int] = None,
                 num_cols: Optional[int] = None, dtype: torch.dtype = torch.float32, bipartite: bool = False):
        check_dtype(dtype)
        if not bipartite:
            edge_index, edge_weight, _ = check_graph(
                edge_index, edge_weight,
                None if num_rows is None or num_cols is None else max(num_rows, num_cols),
                require_undirected=False)
        if num_rows is None or num_cols is None:
            n = int(edge_index.max()) + 1 if edge_index.numel() else 0
            num_rows = num_rows if num_rows is not None else n
            num_cols = num_cols if num_cols is not None else n
        if not bipartite:
            edge_index, edge_weight = remove_self_loops(edge_index, edge_weight)
        elif edge_index.numel() == 0:
            raise GraphInputError("The graph has no edges.")
        if edge_weight is None:
            edge_weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        elif bool((edge_weight == 0).any()):  # a zero-weight edge is no edge (as in the Laplacian operators)
            keep = edge_weight != 0
            edge_index, edge_weight = edge_index[:, keep], edge_weight[keep]
        if edge_index.size(1) == 0:
            raise GraphInputError("The graph has no edges of positive weight between distinct nodes.")
        # degrees that would overflow or underflow dtype are computed on rescaled float64 weights
        w = normalization_weights(edge_weight, dtype)
        self.num_rows, self.num_cols = int(num_rows), int(num_cols)
        out_degree = scatter(w, edge_index[0], dim=0, dim_size=self.num_rows, reduce="sum")
        in_degree = scatter(w, edge_index[1], dim=0, dim_size=self.num_cols, reduce="sum")
        inv_out = torch.where(out_degree > 0, out_degree.clamp_min(1e-300).rsqrt(), torch.zeros_like(w[:1]))
        inv_in = torch.where(in_degree > 0, in_degree.clamp_min(1e-300).rsqrt(), torch.zeros_like(w[:1]))
        value = inv_out[edge_index[0]] * w * inv_in[edge_index[1]]
        self.out_degree = cast_normalized(out_degree, dtype, "weighted out-degrees")
        self.in_degree = cast_normalized(in_degree, dtype, "weighted in-degrees")
        size = max(self.num_rows, self.num_cols)
        # coalesced (parallel edges summed) before the cast: a negligible copy of an edge may underflow dtype,
        # the edge itself may not; rectangular CSR views for the two products
        self.matrix = _rect(to_csr(edge_index, value, size), self.num_rows, self.num_cols, dtype)
        self.matrix_t = _rect(to_csr(edge_index.flip(0), value, size), self.num_cols, self.num_rows, dtype)

    def matvec(self, g: Tensor) -> Tensor:
        """:math:`K g` for ``g`` of shape ``[num_cols, m]``."""
        return torch.sparse.mm(self.matrix, g)

    def rmatvec(self, f: Tensor) -> Tensor:
        r""":math:`K^\top f` for ``f`` of shape ``[num_rows, m]``."""
        return torch.sparse.mm(self.matrix_t, f)

    def scipy(self) -> sp.csr_matrix:
        m = self.matrix.to(torch.float64)
        return sp.csr_matrix((m.values().numpy(), m.col_indices().numpy(), m.crow_indices().numpy()),
                             shape=(self.num_rows, self.num_cols))

    def to(self, device=None, dtype=None) -> "DirectedNormalizedAdjacency":
        for key in ("matrix", "matrix_t", "out_degree", "in_degree"):
            val = getattr(self, key)
            setattr(self, key, val.to(device=device, dtype=dtype) if dtype is not None else val.to(device))
        return self

    def __repr__(self) -> str:
        return f"DirectedNormalizedAdjacency(num_rows={self.num_rows}, num_cols={self.num_cols})"


def _rect(csr: Tensor, rows: int, cols: int, dtype: torch.dtype) -> Tensor:
    crow, col, val = csr.crow_indices()[: rows + 1], csr.col_indices(), csr.values()
    keep = crow[-1]
    with quiet_csr():
        return torch.sparse_csr_tensor(crow, col[:keep], cast_normalized(val[:keep], dtype), (rows, cols))
