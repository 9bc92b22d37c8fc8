r"""From learned functions to eigenpairs.

* :mod:`~pyg_spectral.spectrum.ritz`: dense Rayleigh–Ritz on a learned span, residuals, sign rule, the
  Ritz start of training;
* :mod:`~pyg_spectral.spectrum.finalize`: the streamed Rayleigh–Ritz finish of a fit (row chunks);
* :mod:`~pyg_spectral.spectrum.svd`: Rayleigh–Ritz for singular triplets;
* :mod:`~pyg_spectral.spectrum.batched`: the batched per-graph solver of a PyG ``Batch`` (Chebyshev-filtered
  subspace iteration with Rayleigh–Ritz per graph).
"""
from .finalize import RitzResult, finalize_eigenpairs
from .ritz import (column_factors, column_signs, fix_signs, normalize_columns, rayleigh_ritz, ritz_from_moments,
                   ritz_record, ritz_residuals, ritz_start, streamed_moments)
from .svd import ritz_svd, svd_residuals

__all__ = ["rayleigh_ritz", "ritz_from_moments", "streamed_moments", "ritz_residuals", "ritz_record", "ritz_start",
           "normalize_columns", "fix_signs", "column_signs", "column_factors", "finalize_eigenpairs", "RitzResult",
           "ritz_svd", "svd_residuals"]
