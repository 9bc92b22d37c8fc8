"""Random-walk transition operator with the degree measure."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import LaplacianOperator

__all__ = ["RandomWalk"]


class RandomWalk(LaplacianOperator):
    r"""Random-walk operator :math:`P = D^{-1} A = I - L_{rw}`.

    :math:`P` is not symmetric, but it is self-adjoint in :math:`L^2(\pi)` for
    the stationary (degree) measure :math:`\pi_i = d_i / \mathrm{vol}`, which
    the losses use as :attr:`measure`: :math:`E_\pi[f \cdot Pf] =
    f^\top A f/\mathrm{vol}`. Its eigenvalues are those of
    :math:`\hat A`; its eigenfunctions are :math:`\psi = D^{-1/2} u` and the top
    one is constant. Isolated nodes have zero mass under :math:`\pi`, so they
    are rejected.
    """

    name = "random_walk"
    normalization = "rw"
    c0, c1 = 1.0, -1.0
    is_psd = False
    scale, shift = 1.0, 0.0

    def __init__(self, laplacian: Tensor, degree: Tensor):
        from ..exceptions import GraphInputError

        if bool((degree <= 0).any()):
            raise GraphInputError(
                f"The random-walk operator needs every node to have an edge, but {int((degree <= 0).sum())} "
                "nodes are isolated (zero mass under the degree measure). Remove them "
                "(torch_geometric.transforms.RemoveIsolatedNodes) or use operator='laplacian'."
            )
        super().__init__(laplacian, degree)

    @property
    def measure(self) -> Tensor:
        return self.degree / self.degree.sum()

    def trivial_mode(self):
        vec = torch.ones(self.num_nodes, dtype=self.dtype, device=self.device)
        return vec / vec.norm(), 1.0
