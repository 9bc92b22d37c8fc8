"""Polynomial spectral filters that widen eigen-gaps at the top of a spectrum."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from numpy.polynomial import Chebyshev, Polynomial
from torch import Tensor

from .base import GraphOperator

__all__ = ["PolynomialFilter"]


class PolynomialFilter(GraphOperator):
    r"""A polynomial :math:`p(B)` of a base operator :math:`B`, applied with
    :math:`\deg p` sparse matmuls by Clenshaw's recurrence.

    The polynomial is stored in the Chebyshev basis on :math:`B`'s spectral
    interval :math:`[l, h]`,

    .. math::
        p(x) = \sum_{j=0}^{d} c_j\, T_j\!\left(\frac{2x - l - h}{h - l}\right),

    which stays well conditioned for high degrees. :math:`p(B)` has
    :math:`B`'s eigenvectors; where :math:`p` is increasing it keeps their
    order and stretches the gaps by :math:`p'`. Top eigen-gaps of real graphs
    are ~1e-3, so a plain gradient solver needs ~1/gap steps; a filter trades
    matmuls per step for fewer steps.

    Two constructors cover the usual cases:

    * :meth:`power` — :math:`B^d` for a PSD base (gap near 1 grows ~:math:`d`);
    * :meth:`chebyshev` — the degree-:math:`d` Chebyshev polynomial that
      damps :math:`[l, c]` into :math:`[-1, 1]` and grows fastest above the
      cutoff :math:`c` (gap growth ~:math:`d^2`, as in Chebyshev-filtered
      subspace iteration). Not PSD; only the part above :math:`c` is ordered.

    Rayleigh–Ritz and residuals use :attr:`base`, so reported eigenvalues are
    exact Ritz values of the operator the user asked for; :meth:`to_original`
    inverts :math:`p` on its increasing top branch.

    Example:
        >>> import torch
        >>> from pyg_spectral.operators import LazyAdjacency, PolynomialFilter
        >>> edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # a path on 3 nodes
        >>> op = PolynomialFilter.power(LazyAdjacency.from_edge_index(edge_index), 3)
        >>> op.poly_degree
        3
    """

    name = "polynomial_filter"

    def __init__(self, base: GraphOperator, coefficients: Sequence[float], interval: Tuple[float, float] = None):
        if isinstance(base, PolynomialFilter):
            raise ValueError("Nesting polynomial filters is not supported; compose the polynomials instead.")
        super().__init__(base.num_nodes, base.degree)
        self._base = base
        lo, hi = interval if interval is not None else base.spectrum_interval
        if not hi > lo:
            raise ValueError(f"Invalid spectral interval [{lo}, {hi}].")
        self.interval = (float(lo), float(hi))
        self.coefficients = [float(c) for c in coefficients]
        if len(self.coefficients) == 0:
            raise ValueError("A polynomial filter needs at least one coefficient.")
        grid = np.linspace(lo, hi, 4001)
        values = self._poly()(grid)
        self.is_psd = bool(values.min() >= -1e-12)
        self.spectral_radius = float(np.abs(values).max())
        self.spectrum_interval = (float(values.min()), float(values.max()))
        # The increasing top branch [grid[start], hi] on which p can be inverted.
        dec = np.nonzero(np.diff(values) <= 0)[0]
        self._branch = (float(grid[dec[-1] + 1]) if len(dec) else float(lo), float(hi))
        self.scale, self.shift = base.scale, base.shift  # only the sign (order) is used

    # ------------------------------------------------------------ constructors
    @classmethod
    def power(cls, base: GraphOperator, degree: int) -> "PolynomialFilter":
        """:math:`B^d` for a PSD base :math:`B` (monotone on :math:`[0, h]`)."""
        if not base.is_psd:
            raise ValueError(
                f"A power filter needs a PSD base operator (its order would flip negative eigenvalues); "
                f"{base.name!r} is not PSD. Use 'lazy_adjacency' or 'laplacian'."
            )
        if int(degree) < 1:
            raise ValueError(f"degree must be >= 1, got {degree}.")
        lo, hi = base.spectrum_interval
        poly = Polynomial([0.0] * int(degree) + [1.0])
        return cls(base, poly.convert(kind=Chebyshev, domain=[lo, hi]).coef, (lo, hi))

    @classmethod
    def chebyshev(cls, base: GraphOperator, degree: int, cutoff: float) -> "PolynomialFilter":
        r"""Chebyshev filter damping the base spectrum below ``cutoff``.

        Args:
            base: the operator.
            degree: polynomial degree (matmuls per application).
            cutoff: eigenvalue *of the user's operator* (e.g. of :math:`L_{sym}`
                for ``"laplacian"``) beyond which the spectrum is damped; put it
                below the last wanted eigenvalue (for the Laplacian: above).
        """
        lo, hi = base.spectrum_interval
        c = float(base.from_original(torch.tensor(float(cutoff), dtype=torch.float64)))
        if not lo < c < hi:
            raise ValueError(f"cutoff maps to {c:.4g}, outside the base spectrum ({lo}, {hi}).")
        # T_d on [lo, c] -> [-1, 1], normalised to p(hi) = 1.
        inner = Chebyshev([0.0] * int(degree) + [1.0], domain=[lo, c])
        norm = inner(hi)
        poly = (inner / norm).convert(kind=Chebyshev, domain=[lo, hi])
        return cls(base, poly.coef, (lo, hi))

    # ----------------------------------------------------------------- algebra
    def _poly(self) -> Chebyshev:
        return Chebyshev(self.coefficients, domain=list(self.interval))

    @property
    def poly_degree(self) -> int:
        return len(self.coefficients) - 1

    @property
    def base(self) -> GraphOperator:
        return self._base

    @property
    def measure(self) -> Tensor:
        return self._base.measure

    def matvec(self, x: Tensor) -> Tensor:
        lo, hi = self.interval
        alpha, beta = 2.0 / (hi - lo), -(hi + lo) / (hi - lo)

        def t_of_b(y: Tensor) -> Tensor:  # the base mapped to [-1, 1]
            return alpha * self._base.matvec(y) + beta * y

        c = self.coefficients
        if len(c) == 1:
            return c[0] * x
        # Clenshaw: b_j = c_j x + 2 t(B) b_{j+1} - b_{j+2}; p(B)x = c_0 x + t(B) b_1 - b_2.
        b1, b2 = c[-1] * x, torch.zeros_like(x)
        for cj in reversed(c[1:-1]):
            b1, b2 = cj * x + 2.0 * t_of_b(b1) - b2, b1
        return c[0] * x + t_of_b(b1) - b2

    def to_original(self, eigenvalues: Tensor) -> Tensor:
        """Invert :math:`p` on its increasing top branch, then map as the base does."""
        poly = self._poly()
        lo, hi = self._branch
        mu = np.asarray(eigenvalues.detach().cpu().double().numpy() if isinstance(eigenvalues, Tensor) else eigenvalues)
        a = np.full(mu.shape, lo)
        b = np.full(mu.shape, hi)
        for _ in range(80):  # bisection; p is increasing on [lo, hi]
            mid = 0.5 * (a + b)
            up = poly(mid) < mu
            a = np.where(up, mid, a)
            b = np.where(up, b, mid)
        x = torch.as_tensor(0.5 * (a + b))
        out = self._base.to_original(x)
        return out.to(eigenvalues.dtype) if isinstance(eigenvalues, Tensor) else out

    def from_original(self, eigenvalues: Tensor) -> Tensor:
        x = self._base.from_original(eigenvalues)
        return torch.as_tensor(self._poly()(np.asarray(x, dtype=np.float64)))

    def trivial_mode(self):
        return self._base.trivial_mode()

    def symmetric_matrix(self) -> sp.csr_matrix:
        s = self._base.symmetric_matrix()
        lo, hi = self.interval
        n = s.shape[0]
        eye = sp.identity(n, format="csr")
        t = (2.0 / (hi - lo)) * s - ((hi + lo) / (hi - lo)) * eye
        c = self.coefficients
        t_prev, t_cur = eye, t
        out = c[0] * eye + (c[1] * t if len(c) > 1 else 0 * eye)
        for cj in c[2:]:
            t_prev, t_cur = t_cur, (2 * t @ t_cur - t_prev).tocsr()
            out = out + cj * t_cur
        return sp.csr_matrix(out)

    def __repr__(self) -> str:
        return f"PolynomialFilter({self._base!r}, degree={self.poly_degree}, psd={self.is_psd})"
