"""Normalized adjacency operators."""
from __future__ import annotations

from .base import LaplacianOperator

__all__ = ["NormalizedAdjacency", "LazyAdjacency"]


class NormalizedAdjacency(LaplacianOperator):
    r"""Symmetric normalized adjacency :math:`\hat A = D^{-1/2} A D^{-1/2} = I - L_{sym}`.

    Spectrum in :math:`[-1, 1]`, top eigenvalue 1 with eigenvector
    :math:`D^{1/2}\mathbf 1` on a connected graph. Not PSD: the EVD form of
    NestedLoRA learns its top *positive* eigenvalues (modes with
    :math:`\lambda \le 0` collapse to zero), and NestedOMM refuses it.

    Example:
        >>> import torch
        >>> from torch_geometric.datasets import KarateClub
        >>> op = NormalizedAdjacency.from_edge_index(KarateClub()[0].edge_index)
        >>> op.matvec(torch.randn(op.num_nodes, 4)).shape
        torch.Size([34, 4])
    """

    name = "adjacency"
    normalization = "sym"
    c0, c1 = 1.0, -1.0
    is_psd = False
    scale, shift = 1.0, 0.0


class LazyAdjacency(LaplacianOperator):
    r"""Lazy walk :math:`T = (I + \hat A)/2 = I - L_{sym}/2`.

    PSD with spectrum in :math:`[0, 1]` and the eigenvectors of :math:`\hat A`
    in the same order; the recommended operator to learn.
    """

    name = "lazy_adjacency"
    normalization = "sym"
    c0, c1 = 1.0, -0.5
    is_psd = True
    spectrum_interval = (0.0, 1.0)
    scale, shift = 1.0, 0.0
