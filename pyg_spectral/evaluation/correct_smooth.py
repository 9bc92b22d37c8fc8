r"""Correct & Smooth post-processing of a probe's predictions (Huang et al., ICLR 2021), through PyG's
:class:`~torch_geometric.nn.models.CorrectAndSmooth`.

Given the base probe's class probabilities :math:`Z` and the one-hot training labels :math:`Y`, the training
residual :math:`E^{(0)} = (Y - Z)` on train nodes (0 elsewhere) is propagated with
:math:`E \leftarrow \alpha_1 S E + (1 - \alpha_1) E^{(0)}`, :math:`S = D^{-1/2} A D^{-1/2}`, and added back
(``scale`` :math:`\cdot E`); the corrected predictions, with train rows reset to :math:`Y`, are then smoothed by
label propagation with :math:`\alpha_2`. Only training labels enter, so validation and test scores stay honest.

The defaults are the settings the C&S authors used on ogbn-products (50 + 50 propagations,
:math:`\alpha_1 = 1.0`, :math:`\alpha_2 = 0.8`, fixed scale 20). The authors tuned these per dataset;
:data:`CS_GRID` is a small grid around them for selection on the validation split
(``evaluate_embedding(..., correct_and_smooth="select")``): on CiteSeer's public split the products settings
*lower* the linear probe of a learned embedding (63.0 to 60.1 test) where a residual scale of 1 raises it (67.1). The graph should be undirected (as the
symmetric normalisation assumes); isolated nodes keep their base predictions through the propagation's
:math:`(1 - \alpha)` term.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

__all__ = ["correct_and_smooth", "CS_DEFAULTS", "CS_GRID"]

#: the C&S authors' ogbn-products settings
CS_DEFAULTS: Dict[str, Any] = dict(num_correction_layers=50, correction_alpha=1.0, num_smoothing_layers=50,
                                   smoothing_alpha=0.8, autoscale=False, scale=20.0)
#: settings tried by ``correct_and_smooth="select"`` (best on the validation split): the residual's scale (fixed
#: 20 as on products, fixed 1, or C&S's autoscale) times the two propagation strengths
CS_GRID: Tuple[Dict[str, Any], ...] = tuple(
    dict(scale_setting, correction_alpha=a1, smoothing_alpha=a2)
    for scale_setting in (dict(autoscale=False, scale=20.0), dict(autoscale=False, scale=1.0), dict(autoscale=True))
    for a1, a2 in ((1.0, 0.8), (0.5, 0.5), (0.8, 0.5)))


def correct_and_smooth(probs: Tensor, y: Tensor, train_idx: Tensor, edge_index: Tensor,
                       edge_weight: Optional[Tensor] = None, **settings: Any) -> Tensor:
    r"""Correct and smooth ``probs`` (``[n, c]`` class probabilities) with the labels of ``train_idx``.

    Args:
        probs: base predictions, rows summing to one.
        y: ``[n]`` labels (only the rows of ``train_idx`` are read).
        train_idx: training node indices.
        edge_index: ``[2, E]`` undirected edges of the graph.
        edge_weight: optional ``[E]`` weights.
        **settings: overrides of :data:`CS_DEFAULTS` (arguments of
            :class:`~torch_geometric.nn.models.CorrectAndSmooth`).

    Returns:
        ``[n, c]`` post-processed scores (argmax = prediction).

    Example:
        >>> import torch
        >>> edge_index = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])   # a path 0-1-2 and an edge 3-4
        >>> probs = torch.full((5, 2), 0.5)                                         # an uninformed base probe
        >>> y = torch.tensor([0, 0, 0, 1, 1])
        >>> correct_and_smooth(probs, y, torch.tensor([0, 3]), edge_index).argmax(1).tolist()
        [0, 0, 0, 1, 1]
    """
    from torch_geometric.nn.models import CorrectAndSmooth

    unknown = set(settings) - set(CS_DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown Correct & Smooth settings {sorted(unknown)}; choose from {sorted(CS_DEFAULTS)}.")
    if probs.dim() != 2 or not bool(torch.isfinite(probs).all()):
        raise ValueError("probs must be a finite [n, num_classes] tensor.")
    n, c = probs.shape
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}.")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise ValueError(f"edge_index has node indices outside [0, {n - 1}] (probs has {n} rows).")
    train_idx = torch.as_tensor(train_idx, device=probs.device).long().view(-1)
    labels = y.view(-1)[train_idx.to(y.device)].to(probs.device).long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= c):
        raise ValueError(f"training labels must lie in [0, {c - 1}] (the probe's classes).")
    model = CorrectAndSmooth(**{**CS_DEFAULTS, **settings})
    edge_index = edge_index.to(probs.device).long()
    edge_weight = None if edge_weight is None else edge_weight.to(probs.device, probs.dtype)
    with torch.no_grad():
        out = model.correct(probs, labels, train_idx, edge_index, edge_weight)
        return model.smooth(out, labels, train_idx, edge_index, edge_weight)
