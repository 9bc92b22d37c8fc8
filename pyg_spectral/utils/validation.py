"""Input checks shared by operators, encoders and the estimator.

Every public entry point funnels a graph through :func:`check_graph` so that bad
input fails early with a message that names the problem, instead of surfacing
later as a NaN, a shape error deep inside a sparse kernel, or a segfault.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import is_undirected

from ..exceptions import GraphInputError

__all__ = ["check_graph", "check_features"]


def check_graph(
    edge_index: Tensor,
    edge_weight: Optional[Tensor],
    num_nodes: Optional[int],
    *,
    require_undirected: bool = True,
    allow_no_edges: bool = False,
) -> Tuple[Tensor, Optional[Tensor], int]:
    """Validate a graph given in PyG's COO form and return it unchanged.

    Args:
        edge_index: ``[2, E]`` integer tensor of (source, target) pairs.
        edge_weight: optional ``[E]`` non-negative, finite weights.
        num_nodes: number of nodes; inferred as ``max(edge_index) + 1`` if
            ``None``.
        require_undirected: raise if the edge set (with weights) is not
            symmetric.

    Returns:
        ``(edge_index, edge_weight, num_nodes)``.

    Raises:
        GraphInputError: naming the first problem found.
    """
    if not isinstance(edge_index, Tensor):
        raise GraphInputError(f"edge_index must be a torch.Tensor, got {type(edge_index).__name__}.")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise GraphInputError(f"edge_index must have shape [2, num_edges], got {list(edge_index.shape)}.")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise GraphInputError(
            f"edge_index must hold integers (torch.long), got dtype {edge_index.dtype}."
        )
    if num_nodes is None:
        num_nodes = int(edge_index.max()) + 1 if edge_index.numel() > 0 else 0
    num_nodes = int(num_nodes)
    if num_nodes <= 0:
        raise GraphInputError("The graph is empty: it has no nodes.")
    if edge_index.size(1) == 0:
        if allow_no_edges:
            return edge_index.long(), edge_weight, num_nodes
        raise GraphInputError(
            f"The graph has {num_nodes} nodes but no edges: every graph operator is zero, "
            "so there is no spectrum to learn."
        )
    lo, hi = int(edge_index.min()), int(edge_index.max())
    if lo < 0 or hi >= num_nodes:
        raise GraphInputError(
            f"edge_index holds node indices in [{lo}, {hi}], outside [0, {num_nodes - 1}] "
            f"for num_nodes={num_nodes}."
        )
    if edge_weight is not None:
        if not isinstance(edge_weight, Tensor):
            raise GraphInputError("edge_weight must be a torch.Tensor or None.")
        if edge_weight.dim() != 1 or edge_weight.numel() != edge_index.size(1):
            raise GraphInputError(
                f"edge_weight must have shape [{edge_index.size(1)}] (one weight per edge), "
                f"got {list(edge_weight.shape)}."
            )
        if edge_weight.device != edge_index.device:
            raise GraphInputError(
                f"edge_weight is on {edge_weight.device} but edge_index is on {edge_index.device}; "
                "move them to the same device."
            )
        if not torch.is_floating_point(edge_weight):
            raise GraphInputError(f"edge_weight must be a floating point tensor, got {edge_weight.dtype}.")
        bad = ~torch.isfinite(edge_weight)
        if bool(bad.any()):
            raise GraphInputError(f"edge_weight has {int(bad.sum())} NaN or infinite entries.")
        if bool((edge_weight < 0).any()):
            raise GraphInputError(
                f"edge_weight has {int((edge_weight < 0).sum())} negative entries; normalized "
                "adjacency and Laplacian operators need non-negative weights."
            )
    if require_undirected and not _is_symmetric(edge_index.long(), edge_weight, num_nodes):
        raise GraphInputError(
            "The graph is directed (edge_index/edge_weight is not symmetric), but the operator is "
            "symmetric. Pass symmetrize=True (uses torch_geometric.utils.to_undirected) or "
            "symmetrize the graph yourself."
        )
    return edge_index, edge_weight, num_nodes


def check_features(x: Tensor, num_nodes: int, device: torch.device, name: str = "x") -> Tensor:
    """Check node features: ``[num_nodes, F]``, floating, finite, on ``device``."""
    if not isinstance(x, Tensor):
        raise GraphInputError(f"data.{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 2 or x.size(0) != num_nodes:
        raise GraphInputError(f"data.{name} must have shape [{num_nodes}, num_features], got {list(x.shape)}.")
    if x.device != device:
        raise GraphInputError(f"data.{name} is on {x.device} but edge_index is on {device}.")
    if not torch.is_floating_point(x):
        x = x.float()
    # by row chunks: a [n, F] boolean mask of a large feature matrix would cost more than the check
    if not all(bool(torch.isfinite(part).all()) for part in x.split(65536)):
        bad = ~torch.isfinite(x)
        rows = int(bad.any(dim=1).sum())
        raise GraphInputError(f"data.{name} has {int(bad.sum())} NaN or infinite entries in {rows} rows.")
    return x


def _is_symmetric(edge_index: Tensor, edge_weight: Optional[Tensor], num_nodes: int) -> bool:
    """Whether the weighted adjacency matrix (multi-edges summed; weight 1 per edge when unweighted)
    equals its transpose.

    Unweighted: the multiset of ``(row, col)`` pairs must equal that of ``(col, row)``. It is compared
    through the sum, modulo :math:`2^{64}`, of a 64-bit mix (splitmix64's finalizer) of each pair's key:
    one O(E) pass with no sort (two sorts took ~70% of the inductive PE transform's validation); two
    different multisets agree with probability about :math:`2^{-64}`.
    Weighted: one sorted ``int64`` key per edge and direction, weights of parallel edges summed in a
    canonical order, so the answer does not depend on the order of the edges (and not the two coalesced
    copies of :func:`torch_geometric.utils.is_undirected`: 0.56 GB of transients for 1e7 edges, measured,
    against about half here).
    """
    n = int(num_nodes)
    if n > 3_000_000_000:  # n * n would overflow int64
        return bool(is_undirected(edge_index, edge_weight, num_nodes=n))
    row, col = edge_index[0], edge_index[1]
    if edge_weight is None:
        return _multiset_hash(row * n + col) == _multiset_hash(col * n + row)
    sums = []
    for key in (row * n + col, col * n + row):
        key, order = torch.sort(key)
        weight = _sort_within(key, edge_weight[order])
        del order
        key, inverse = torch.unique_consecutive(key, return_inverse=True)
        total = torch.zeros(key.numel(), dtype=weight.dtype, device=weight.device).index_add_(0, inverse, weight)
        nonzero = total != 0  # a summed weight of zero is no edge
        sums.append((key[nonzero], total[nonzero]))
    (kf, wf), (kb, wb) = sums
    return bool(torch.equal(kf, kb) and torch.equal(wf, wb))


def _multiset_hash(keys: Tensor, chunk: int = 1 << 22) -> int:
    """Order-independent hash of a multiset of non-negative ``int64`` keys: the sum modulo :math:`2^{64}`
    of splitmix64's finalizer of each key (numpy's ``uint64`` arithmetic wraps, as the mix needs)."""
    total = 0
    flat = keys.detach().cpu().numpy().view(np.uint64)
    for start in range(0, flat.size, chunk):
        x = flat[start:start + chunk] ^ (flat[start:start + chunk] >> np.uint64(30))
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        total = (total + int(x.sum(dtype=np.uint64))) % (1 << 64)
    return total


def _sort_within(keys: Tensor, values: Tensor) -> Tensor:
    """Sort ``values`` inside each run of equal (sorted) ``keys``."""
    order = torch.sort(values, stable=True).indices
    order = order[torch.sort(keys[order], stable=True).indices]
    return values[order]
