"""Sparse CSR helpers: the one place that builds CSR tensors without torch's beta-state notices."""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import scatter

__all__ = ["quiet_csr", "to_csr", "csr_with_diagonal", "laplacian_csr", "normalization_weights", "cast_normalized"]


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


def normalization_weights(edge_weight: Tensor, dtype: torch.dtype) -> Tensor:
    r"""Positive edge weights in the dtype a normalized operator is computed in.

    Normalized operators (:math:`D^{-1/2} A D^{-1/2}`, :math:`D^{-1} A`) do not
    change when every weight is multiplied by the same :math:`c > 0`, but their
    degrees can overflow (weights near ``3e38`` in float32) or vanish (``1e-50``
    cast to float32 is 0), which once turned a cycle's spectrum into all ones.
    When every weight, degree and normalized entry fits ``dtype`` (bounded by
    :math:`w_{max} E` above and :math:`w_{min} / (w_{max} E)` below), the weights
    are returned cast to ``dtype``, so ordinary graphs are computed exactly as
    before. Otherwise they are returned in float64, divided by the power of two
    nearest above :math:`w_{max}` (exact: only exponents change), and the caller
    casts the normalized entries to ``dtype`` with :func:`cast_normalized`.

    Raises:
        GraphInputError: if a positive weight is not representable relative to
            the largest one even in float64 (a ratio beyond about ``1e308``).

    >>> w = torch.tensor([3e38, 3e38], dtype=torch.float32)
    >>> normalization_weights(w, torch.float32)
    tensor([0.8816, 0.8816], dtype=torch.float64)
    """
    from ..exceptions import GraphInputError

    info = torch.finfo(dtype)
    if edge_weight.numel() == 0:
        return edge_weight.to(dtype)
    w_max = float(edge_weight.max())
    w_min = float(edge_weight.min())
    count = edge_weight.numel()
    if w_max * count < info.max and w_min / (w_max * count) > info.tiny and w_min >= info.tiny:
        return edge_weight.to(dtype)
    w = edge_weight.to(torch.float64)
    exponent = math.frexp(w_max)[1]
    # two exact power-of-two factors: 2**-exponent alone overflows for subnormal w_max
    half = exponent // 2
    w = w * 2.0 ** -half * 2.0 ** -(exponent - half)
    vanished = int((w == 0).sum())
    if vanished:
        raise GraphInputError(
            f"edge_weight spans a ratio of more than 1e308 (largest {w_max:.3g}, smallest {w_min:.3g}): "
            f"relative to the largest weight, {vanished} weights are zero even in float64, so the normalized "
            "operator cannot keep those edges. Drop or clip the tiny weights."
        )
    return w


def cast_normalized(values: Tensor, dtype: torch.dtype, what: str = "normalized entries") -> Tensor:
    """Cast normalized operator entries (or rescaled degrees) to ``dtype``, refusing to lose any to underflow.

    Raises:
        GraphInputError: if a positive value becomes zero in ``dtype`` (the graph the operator sees would
            differ from the user's: an edge, perhaps a bridge, would vanish, or a node would look isolated).
    """
    from ..exceptions import GraphInputError

    if values.dtype == dtype:
        return values
    out = values.to(dtype)
    lost = (out == 0) & (values != 0)
    if bool(lost.any()):
        raise GraphInputError(
            f"edge_weight spans too wide a range for {dtype}: {int(lost.sum())} {what} (smallest "
            f"{float(values[lost].abs().min()):.3g} relative to the largest weight) underflow to zero, which "
            "would delete edges the graph has. Use dtype=torch.float64 or drop the negligible weights."
        )
    return out


def laplacian_csr(edge_index: Tensor, edge_weight: Tensor, num_nodes: int, normalization: str,
                  dtype: Optional[torch.dtype] = None) -> Tuple[Tensor, Tensor]:
    r"""``(L, degree)``: the normalized Laplacian in CSR layout, built in place of
    :func:`torch_geometric.utils.get_laplacian` followed by a COO coalesce.

    Same matrix, entry for entry (tested against ``get_laplacian``): self-loops
    dropped, duplicate edges summed, a diagonal of ones for every node
    (isolated ones included), ``"sym"``: :math:`-w_{ij}/\sqrt{d_i d_j}`,
    ``"rw"``: :math:`-w_{ij}/d_i` off the diagonal. Two differences, both
    about what the operator sees: zero-weight edges are dropped (so the CSR
    pattern is the graph's positive-weight pattern, which component counts
    read), and weights whose degrees would overflow or underflow ``dtype``
    are rescaled first (:func:`normalization_weights`; ``degree`` is then
    the weighted degree divided by that power of two). Why by hand: the
    ``get_laplacian`` + coalesce route keeps several ``E``-sized index copies
    alive at once (0.95 GB of transients for 1e7 edges, measured); sorting one
    ``int64`` key per entry peaks at about half of that.

    Args:
        dtype: dtype of ``L`` and ``degree`` (default ``edge_weight.dtype``).

    Raises:
        GraphInputError: if no edge of positive weight joins two distinct nodes, or the weights span a
            range that ``dtype`` cannot represent in the normalized entries.
    """
    from ..exceptions import GraphInputError

    dtype = edge_weight.dtype if dtype is None else dtype
    n = int(num_nodes)
    row, col = edge_index[0], edge_index[1]
    drop = (row == col) | (edge_weight == 0)
    if bool(drop.any()):
        keep = ~drop
        row, col, edge_weight = row[keep], col[keep], edge_weight[keep]
    del drop
    if row.numel() == 0:
        raise GraphInputError(
            f"The graph has {n} nodes but no edges of positive weight between distinct nodes (self-loops "
            "and zero-weight edges are ignored): every normalized operator is trivial, so there is no "
            "spectrum to learn."
        )
    edge_weight = normalization_weights(edge_weight, dtype)
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
    degree = cast_normalized(degree, dtype, "weighted degrees")
    edge_key = row * n + col
    if edge_key.numel() and bool((edge_key[1:] > edge_key[:-1]).all()):
        # Already sorted, no parallel edges (PyG graphs and batches usually are): slot the diagonal in
        # without sorting.
        return csr_with_diagonal(row, col, cast_normalized(off.neg_(), dtype), n), degree
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
    # after summing parallel edges: a negligible copy of an edge may underflow, the edge itself may not
    value = cast_normalized(value, dtype)
    rows = torch.div(key, n, rounding_mode="floor")
    cols = key - rows * n
    del key
    crow = torch.zeros(n + 1, dtype=torch.long, device=cols.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    del rows
    with quiet_csr():
        return torch.sparse_csr_tensor(crow, cols, value, (n, n), check_invariants=False), degree
