r"""Nesting masks: how a nested loss weights the prefixes :math:`f_{1..i}`.

A nested loss sums the rank-:math:`i` objectives of the prefixes
:math:`f_1, \dots, f_i`. For losses that are quadratic in the moments
(NestedLoRA, NestedOMM of order 1), every variant is a masked sum,

.. math::
    \mathcal L = -2 \sum_l v_l\, Q_{ll} + \sum_{l,m} W_{lm}\, M_{lm} X_{lm},

with :math:`X = M` for LoRA and :math:`X = Q` for OMM.

* **joint**: minimise :math:`\sum_i \alpha_i \mathcal L(f_{1..i})`. Collecting
  terms gives :math:`v_l = \sum_{i \ge l} \alpha_i` and
  :math:`W_{lm} = v_{\max(l, m)}`.
* **sequential**: :math:`f_i` gets the gradient of :math:`\mathcal L(f_{1..i})`
  with :math:`f_{1..i-1}` held fixed; in the custom backward this is
  :math:`v \equiv 1` and :math:`W_{lm} = [l \le m]`.
* ``None`` (un-nested): :math:`v \equiv 1`, :math:`W \equiv 1`; learns the
  top subspace but not its order.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["NESTINGS", "prefix_weights", "nesting_masks"]

NESTINGS = ("joint", "sequential", None)


def prefix_weights(num_components: int, step: int = 1, weights: Optional[Sequence[float]] = None) -> Tensor:
    r"""Joint-nesting weights :math:`\alpha_i` on the prefix end indices.

    By default :math:`\alpha` is uniform over :math:`\{s, 2s, \dots\} \cup \{m\}`
    (``step`` :math:`s`); ``weights`` (length ``num_components``, non-negative)
    overrides it. Returns a float64 tensor summing to one.
    """
    m = int(num_components)
    if weights is not None:
        alpha = torch.as_tensor(weights, dtype=torch.float64)
        if alpha.shape != (m,) or bool((alpha < 0).any()) or float(alpha.sum()) <= 0:
            raise ValueError(f"weights must be {m} non-negative numbers with a positive sum.")
    else:
        if int(step) < 1:
            raise ValueError(f"step must be >= 1, got {step}.")
        alpha = torch.zeros(m, dtype=torch.float64)
        alpha[int(step) - 1 :: int(step)] = 1.0
        alpha[m - 1] = 1.0
    return alpha / alpha.sum()


def nesting_masks(
    num_components: int,
    nesting: Optional[str] = "joint",
    step: int = 1,
    weights: Optional[Sequence[float]] = None,
) -> Tuple[Tensor, Tensor]:
    """Return ``(vector_mask v [m], matrix_mask W [m, m])`` (float64) for a nesting mode."""
    m = int(num_components)
    if nesting == "joint":
        v = torch.flip(torch.cumsum(torch.flip(prefix_weights(m, step, weights), [0]), 0), [0])
        W = torch.minimum(v[:, None], v[None, :])
    elif nesting == "sequential":
        v = torch.ones(m, dtype=torch.float64)
        W = torch.triu(torch.ones(m, m, dtype=torch.float64))
    elif nesting is None:
        v = torch.ones(m, dtype=torch.float64)
        W = torch.ones(m, m, dtype=torch.float64)
    else:
        raise ValueError(f"Unknown nesting {nesting!r}; choose 'joint', 'sequential' or None.")
    return v, W
