r"""NestedLoRA in SVD form: left functions :math:`f` on the sources, right functions :math:`g` on the targets.

.. math::
    \mathcal L(f, g) = -2 \sum_l v_l\, f_l^\top K g_l + \sum_{l,m} W_{lm}\, (f_l^\top f_m)(g_l^\top g_m),

the masked form of :math:`\sum_i \alpha_i \|K - \sum_{l\le i} f_l g_l^\top\|_F^2` (Ryu et al., ICML 2024, SVD
form). Its minimisers are :math:`f_l = \sqrt{\sigma_l} u_l`, :math:`g_l = \sqrt{\sigma_l} v_l` for the top
singular triplets, ordered by the nesting.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .moments import gram

__all__ = ["nested_lora_svd_loss"]


def nested_lora_svd_loss(f: Tensor, g: Tensor, kg: Tensor, v: Tensor, W: Tensor, sequential: bool) -> Tensor:
    """The masked LoRA SVD loss (autograd through ``kg = K g``); ``v``, ``W`` from
    :func:`~pyg_spectral.losses.nesting.nesting_masks`.

    >>> import torch
    >>> from pyg_spectral.losses.nesting import nesting_masks
    >>> K = torch.diag(torch.tensor([3.0, 1.0]))                # singular values 3 and 1
    >>> f = g = torch.diag(torch.tensor([3.0, 1.0]).sqrt())      # the minimiser: sqrt(sigma) u, sqrt(sigma) v
    >>> v, W = nesting_masks(2, "sequential")
    >>> round(float(nested_lora_svd_loss(f, g, K @ g, v, W, sequential=True)), 4)
    -10.0
    """
    ones_f = torch.ones(f.size(0), dtype=f.dtype, device=f.device)
    ones_g = torch.ones(g.size(0), dtype=g.dtype, device=g.device)
    mf = gram(f, ones_f, routed=sequential)
    mg = gram(g, ones_g, routed=sequential)
    value_w = torch.ones_like(W) if sequential else W
    return -2.0 * (v * (f * kg).sum(0)).sum() + (value_w * mf * mg).sum()
