"""Symmetric normalized Laplacian, learned through its PSD complement."""
from __future__ import annotations

from .base import LaplacianOperator

__all__ = ["NormalizedLaplacian"]


class NormalizedLaplacian(LaplacianOperator):
    r"""Symmetric normalized Laplacian :math:`L_{sym} = I - D^{-1/2} A D^{-1/2}`.

    Users want its *bottom* eigenpairs (spectrum in :math:`[0, 2]`), but the
    nested losses learn top eigenpairs of a PSD operator. So the training
    operator is the complement

    .. math::
        T = I - \tfrac12 L_{sym} = \tfrac12 (I + \hat A), \qquad
        \lambda(L_{sym}) = 2 - 2\,\lambda(T),

    (:math:`a = -1/2`, :math:`b = 1` in :class:`GraphOperator`'s notation), and
    eigenvalues are reported ascending. The first eigenvector is the trivial
    :math:`D^{1/2}\mathbf 1/\sqrt{\mathrm{vol}}` with eigenvalue 0.
    """

    name = "laplacian"
    normalization = "sym"
    c0, c1 = 1.0, -0.5
    is_psd = True
    spectrum_interval = (0.0, 1.0)
    scale, shift = -0.5, 1.0
