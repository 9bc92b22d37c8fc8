"""Input checks shared by operators, encoders and the estimator.

Every public entry point funnels a graph through :func:`check_graph` so that bad
input fails early with a message that names the problem, instead of surfacing
later as a NaN, a shape error deep inside a sparse kernel, or a segfault.
"""
from __future__ import annotations

import copy
from typing import Any, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import is_undirected

from ..exceptions import GraphInputError

__all__ = ["check_graph", "check_features", "check_dtype", "check_data", "check_same_device", "feature_limit"]

#: Floating dtypes every operator and encoder supports. Half precision is refused: torch's CPU sparse CSR
#: kernels (MKL) have no float16/bfloat16 matmul, and the normalized entries and the losses' fourth powers
#: leave too little range there anyway.
SUPPORTED_DTYPES = (torch.float32, torch.float64)


def check_dtype(dtype: Any) -> torch.dtype:
    """Return ``dtype`` if operators and training support it, else raise a ``ValueError`` naming the choices.

    >>> check_dtype(torch.float64)
    torch.float64
    >>> check_dtype(torch.float16)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: dtype must be one of the supported dtypes torch.float32 and torch.float64, got torch.float16: ...
    """
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(
            f"dtype must be one of the supported dtypes torch.float32 and torch.float64, got {dtype!r}: torch's "
            "sparse CSR kernels have no half-precision matmul on CPU, and half precision cannot hold the "
            "normalized operator entries of large graphs."
        )
    return dtype


def _check_not_meta(t: Tensor, name: str) -> None:
    if t.device.type == "meta":
        raise GraphInputError(
            f"{name} is on the 'meta' device, which holds shapes but no values; materialize it on a real "
            "device first (e.g. tensor.to_empty(device='cpu') and fill it, or build it on 'cpu'/'cuda')."
        )


def _as_tensor(value: Any, name: str, floating: bool) -> Any:
    """Python lists, tuples and numpy arrays become tensors (``torch.long`` indices, ``float`` weights)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            out = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as err:
            raise GraphInputError(f"{name} could not be converted to a tensor: {err}.") from None
        if floating and not torch.is_floating_point(out) and out.dtype != torch.bool:
            out = out.to(torch.get_default_dtype())
        return out
    return value


def check_data(data: Any) -> Any:
    """Check that ``data`` is a homogeneous PyG graph the estimator can read; return it (or a shallow copy
    whose Python-list or numpy ``edge_index`` / ``edge_weight`` became tensors).

    Raises:
        GraphInputError: for a ``HeteroData`` (convert with ``to_homogeneous()``), a missing ``edge_index``,
            or tensors on the ``meta`` device.
    """
    from torch_geometric.data import Data, HeteroData

    if isinstance(data, HeteroData):
        raise GraphInputError(
            "HeteroData is not supported; convert with to_homogeneous() (node and edge types become "
            "node_type / edge_type attributes of one graph)."
        )
    if not isinstance(data, Data):
        raise GraphInputError(f"data must be a torch_geometric.data.Data, got {type(data).__name__}.")
    if "edge_index" not in data or data.edge_index is None:
        raise GraphInputError("data must be a torch_geometric.data.Data with an edge_index.")
    converted = {}
    for key, floating in (("edge_index", False), ("edge_weight", True)):
        if key in data and data[key] is not None and not isinstance(data[key], Tensor):
            converted[key] = _as_tensor(data[key], f"data.{key}", floating)
            if not isinstance(converted[key], Tensor):
                raise GraphInputError(f"data.{key} must be a torch.Tensor, got {type(data[key]).__name__}.")
    if converted:
        data = copy.copy(data)
        for key, value in converted.items():
            data[key] = value
    for key, value in data.items():
        if isinstance(value, Tensor):
            _check_not_meta(value, f"data.{key}")
    return data


def check_graph(
    edge_index: Tensor,
    edge_weight: Optional[Tensor],
    num_nodes: Optional[int],
    *,
    require_undirected: bool = True,
    allow_no_edges: bool = False,
) -> Tuple[Tensor, Optional[Tensor], int]:
    """Validate a graph given in PyG's COO form and return it unchanged.

    Python lists and numpy arrays are converted to tensors (and returned so). Parallel edges are allowed
    and mean the sum of their weights, as in every operator; zero-weight edges mean no edge.

    Args:
        edge_index: ``[2, E]`` integer tensor of (source, target) pairs.
        edge_weight: optional ``[E]`` non-negative, finite weights.
        num_nodes: number of nodes; inferred as ``max(edge_index) + 1`` if
            ``None``.
        require_undirected: raise if the edge set (with weights) is not
            symmetric.

    Returns:
        ``(edge_index, edge_weight, num_nodes)`` (``edge_index`` as a tensor).

    Raises:
        GraphInputError: naming the first problem found.
    """
    edge_index = _as_tensor(edge_index, "edge_index", floating=False)
    edge_weight = _as_tensor(edge_weight, "edge_weight", floating=True)
    if not isinstance(edge_index, Tensor):
        raise GraphInputError(f"edge_index must be a torch.Tensor, got {type(edge_index).__name__}.")
    _check_not_meta(edge_index, "edge_index")
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
        _check_not_meta(edge_weight, "edge_weight")
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


def feature_limit(dtype: torch.dtype = torch.float32) -> float:
    r"""Largest feature magnitude :func:`check_features` accepts for training in ``dtype``:
    :math:`\mathrm{max}(dtype)^{1/4}` (about ``4e9`` in float32). The nested losses hold fourth powers of
    the learned functions (:math:`\mathrm{tr}((F^\top F)^2)`), and an encoder's outputs start at the
    scale of its inputs, so larger features overflow within the first steps.

    >>> f"{feature_limit(torch.float32):.2e}"
    '4.29e+09'
    """
    return float(torch.finfo(dtype).max) ** 0.25


def check_features(x: Tensor, num_nodes: int, device: torch.device, name: str = "x", *,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Check node features: ``[num_nodes, F]`` with ``F >= 1``, floating, finite, on ``device``, and of a
    magnitude the encoder can train on in ``dtype`` (:func:`feature_limit`).

    Raises:
        GraphInputError: naming the problem (shape, zero feature columns, device, NaN/inf, scale).
    """
    if not isinstance(x, Tensor):
        raise GraphInputError(f"data.{name} must be a torch.Tensor, got {type(x).__name__}.")
    _check_not_meta(x, f"data.{name}")
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 2 or x.size(0) != num_nodes:
        raise GraphInputError(f"data.{name} must have shape [{num_nodes}, num_features], got {list(x.shape)}.")
    if x.size(1) == 0:
        raise GraphInputError(
            f"data.{name} has shape {list(x.shape)}: zero feature columns, so an encoder reading it sees "
            f"nothing. Give at least one feature, or set data.{name} = None and use encoder='embedding' "
            f"(or a GNN with random_features only)."
        )
    if x.device != device:
        raise GraphInputError(f"data.{name} is on {x.device} but edge_index is on {device}.")
    if not torch.is_floating_point(x):
        x = x.float()
    # by row chunks: a [n, F] boolean mask of a large feature matrix would cost more than the check
    if not all(bool(torch.isfinite(part).all()) for part in x.split(65536)):
        bad = ~torch.isfinite(x)
        rows = int(bad.any(dim=1).sum())
        raise GraphInputError(f"data.{name} has {int(bad.sum())} NaN or infinite entries in {rows} rows.")
    if x.numel():
        largest = max(float(part.abs().max()) for part in x.split(65536))
        limit = feature_limit(dtype)
        if largest > limit:
            raise GraphInputError(
                f"data.{name} has entries up to {largest:.3g} in magnitude, above {limit:.3g}: at this feature "
                f"scale the encoder's outputs and the loss's fourth powers overflow {dtype} (the edge weights "
                f"are not the cause). Standardize the features first, e.g. "
                f"x = (x - x.mean(0)) / x.std(0).clamp_min(1e-12)."
            )
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


def check_same_device(data) -> None:
    """Raise :class:`~pyg_spectral.exceptions.GraphInputError` naming each tensor's device when the tensors of
    ``data`` are not all on one device."""
    devices = {key: val.device for key, val in data.items() if isinstance(val, Tensor)}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{k}: {d}" for k, d in devices.items())
        raise GraphInputError(f"The tensors of data are on different devices ({listing}); move them together.")
