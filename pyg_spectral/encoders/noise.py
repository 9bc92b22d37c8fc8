r"""Counter-based node noise: standard normals keyed by ``(node id, channel, seed)``.

A random input drawn with a generator (``torch.randn(n, d)``) gives node ``i`` the ``i``-th row of one
stream, so a node's noise changes when the graph grows, shrinks or is reordered, and an inductive encoder
fed with it is not a function of the node. Here entry ``(i, j)`` is a pure function of ``(ids[i], j,
seed)``: the SplitMix64 sequence (Steele, Lea and Flood, OOPSLA 2014) started from a hash of the node id
and the seed gives two uniforms per channel, and Box–Muller turns them into a standard normal. The same
id gets the same row in any graph, in any position, on any device.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["hashed_normal"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def hashed_normal(node_ids: Tensor, dim: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""``[len(node_ids), dim]`` standard normals; row ``i`` depends only on ``(node_ids[i], seed)``.

    Node ``v`` with seed ``s`` starts the SplitMix64 state :math:`h = \mathrm{mix}(v \oplus
    \mathrm{mix}(s + \gamma))`; channel ``j`` reads the draws :math:`a = \mathrm{mix}(h + (2j+1)\gamma)`,
    :math:`b = \mathrm{mix}(h + (2j+2)\gamma)` (:math:`\gamma` the golden-ratio increment), the uniforms
    :math:`u_1 \in (0, 1]`, :math:`u_2 \in [0, 1)` from their top 53 bits, and returns
    :math:`\sqrt{-2 \ln u_1}\, \cos(2\pi u_2)`. Computed in float64 (on the CPU, in uint64 arithmetic)
    and returned on ``node_ids``' device.

    Args:
        node_ids: non-negative integer ids, any shape (flattened).
        dim: number of channels.
        seed: seed (any int; distinct seeds give independent noise).
        dtype: floating dtype of the result.

    Example:
        >>> a = hashed_normal(torch.tensor([3, 7]), 4, seed=0)
        >>> b = hashed_normal(torch.tensor([7, 1, 3]), 4, seed=0)   # other nodes, other order
        >>> torch.equal(a[0], b[2]), torch.equal(a[1], b[0])
        (True, True)
    """
    if not isinstance(node_ids, Tensor) or node_ids.dtype.is_floating_point or node_ids.dtype == torch.bool:
        raise TypeError("node_ids must be an integer tensor.")
    if int(dim) < 0:
        raise ValueError(f"dim must be >= 0, got {dim}.")
    ids = node_ids.detach().reshape(-1).cpu().long()
    if ids.numel() and int(ids.min()) < 0:
        raise ValueError("node_ids must be non-negative.")
    seed_key = _mix64(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) + _GOLDEN)
    with np.errstate(over="ignore"):
        state = _mix64(ids.numpy().astype(np.uint64) ^ seed_key)[:, None]
        step = np.arange(1, 2 * int(dim) + 1, dtype=np.uint64) * _GOLDEN
        a = _mix64(state + step[0::2][None, :])
        b = _mix64(state + step[1::2][None, :])
    scale = 2.0 ** -53
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * scale
    u2 = (b >> np.uint64(11)).astype(np.float64) * scale
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return torch.from_numpy(z).to(device=node_ids.device, dtype=dtype)
