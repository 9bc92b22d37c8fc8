"""Sparse CSR helpers: the one place that builds CSR tensors without torch's beta-state notices."""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter

__all__ = ["quiet_csr", "to_csr", "csr_with_diagonal", "laplacian_csr"]


@contextlib.contextmanager
def quiet_csr() -> Iterator[None]:
    """Silence torch's "Sparse CSR tensor support is in beta state" and "Sparse invariant checks are
    implicitly disabled" notices inside the block (they fire on every CSR construction)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        yield


def to_csr(index: Tensor, value: Tensor, num_nodes: int) -> Tensor:
    """Coalesce (summing duplicates) into a CSR matrix, without torch's beta-state notices."""
    with quiet_csr():
        coo = torch.sparse_coo_tensor(index, value, (num_nodes, num_nodes), check_invariants=False)
        return coo.coalesce().to_sparse_csr()


def csr_with_diagonal(row: Tensor, col: Tensor, value: Tensor, n: int) -> Tensor:
    """CSR of the strictly sorted, loop-free entries ``(row, col, value)`` plus a diagonal of ones."""
    total = row.numel() + n
    crow = torch.zeros(n + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=n) + 1, 0)
    # Entry i lands after the diagonals of the row_i earlier rows, and after its own row's when col_i > row_i;
    # row r's diagonal after its entries left of it.
    position = torch.arange(row.numel(), device=row.device) + row + (col > row).long()
    diagonal = crow[:-1] + torch.bincount(row[col < row], minlength=n)
    cols = torch.empty(total, dtype=col.dtype, device=col.device)
    values = torch.empty(total, dtype=value.dtype, device=value.device)
    cols[position], values[position] = col, value
    cols[diagonal], values[diagonal] = torch.arange(n, device=col.device, dtype=col.dtype), 1.0
    with quiet_csr():
        return torch.sparse_csr_tensor(crow, cols, values, (n, n), check_invariants=False)


def laplacian_csr(edge_index: Tensor, edge_weight: Tensor, num_nodes: int, normalization: str
                   ) -> Tuple[Tensor, Tensor]:
    r"""``(L, degree)``: the normalized Laplacian in CSR layout, built in place of
    :func:`torch_geometric.utils.get_laplacian` followed by a COO coalesce.

    Same matrix, entry for entry (tested against ``get_laplacian``): self-loops
    dropped, duplicate edges summed, a diagonal of ones for every node
    (isolated ones included), ``"sym"``: :math:`-w_{ij}/\sqrt{d_i d_j}`,
    ``"rw"``: :math:`-w_{ij}/d_i` off the diagonal. Why by hand: the
    ``get_laplacian`` + coalesce route keeps several ``E``-sized index copies
    alive at once (0.95 GB of transients for 1e7 edges, measured); sorting one
    ``int64`` key per entry peaks at about half of that.
    """
    n = int(num_nodes)
    row, col = edge_index[0], edge_index[1]
    loops = row == col
    if bool(loops.any()):
        keep = ~loops
        row, col, edge_weight = row[keep], col[keep], edge_weight[keep]
    del loops
    degree = scatter(edge_weight, row, dim=0, dim_size=n, reduce="sum")
    if normalization == "sym":
        inv = degree.pow(-0.5)
        inv.masked_fill_(inv == float("inf"), 0)
        off = inv[row] * edge_weight * inv[col]
    elif normalization == "rw":
        inv = 1.0 / degree
        inv.masked_fill_(inv == float("inf"), 0)
        off = inv[row] * edge_weight
    else:
        raise ValueError(f"Unknown normalization {normalization!r}.")
    edge_key = row * n + col
    if edge_key.numel() and bool((edge_key[1:] > edge_key[:-1]).all()):
        # Already sorted, no parallel edges (PyG graphs and batches usually are): slot the diagonal in
        # without sorting.
        return csr_with_diagonal(row, col, off.neg_(), n), degree
    nodes = torch.arange(n, device=row.device)
    key = torch.cat([edge_key, nodes * (n + 1)])  # row-major position of every entry
    del row, col, nodes, edge_key
    value = torch.cat([off.neg_(), torch.ones(n, dtype=off.dtype, device=off.device)])
    del off
    key, order = torch.sort(key)
    value = value[order]
    del order
    key, counts = torch.unique_consecutive(key, return_counts=True)
    if key.numel() < value.numel():  # duplicate edges: sum them, as coalesce does
        segment = torch.repeat_interleave(torch.arange(key.numel(), device=key.device), counts)
        value = torch.zeros(key.numel(), dtype=value.dtype, device=value.device).index_add_(0, segment, value)
        del segment
    del counts
    rows = torch.div(key, n, rounding_mode="floor")
    cols = key - rows * n
    del key
    crow = torch.zeros(n + 1, dtype=torch.long, device=cols.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    del rows
    with quiet_csr():
        return torch.sparse_csr_tensor(crow, cols, value, (n, n), check_invariants=False), degree
