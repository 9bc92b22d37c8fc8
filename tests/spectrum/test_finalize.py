"""The streamed Rayleigh–Ritz finish: exact on a full span, the same by chunks, signs and norms folded in."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pyg_spectral.datasets import path_graph
from pyg_spectral.operators import build_operator
from pyg_spectral.spectrum import finalize_eigenpairs, fix_signs


@pytest.fixture(scope="module")
def weighted_path():
    """A path with random weights: distinct eigenvalues and no symmetry, so vectors and signs are unique."""
    g = path_graph(30)
    half = torch.rand(29, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    row, col = g.edge_index
    weight = half[torch.minimum(row, col)]
    op = build_operator("laplacian", g.edge_index, weight, num_nodes=30, dtype=torch.float64).base
    return op, op.laplacian.to_dense().numpy()


def test_full_span_gives_the_dense_spectrum_by_chunks(weighted_path):
    op, dense = weighted_path
    f = torch.randn(30, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    whole = finalize_eigenpairs(f, op, 6)
    chunked = finalize_eigenpairs(f, op, 6, chunk=7)
    np.testing.assert_allclose(whole.eigenvalues.numpy(), np.linalg.eigvalsh(dense)[:6], atol=1e-10)
    assert float(whole.residuals.max()) < 1e-10
    assert torch.allclose(whole.vectors, chunked.vectors, atol=1e-10)
    assert torch.allclose(whole.vectors, fix_signs(whole.vectors))
    assert torch.allclose(whole.vectors.norm(dim=0), torch.ones(6, dtype=torch.float64))
    # the coefficients map the outputs to the vectors (what transform applies to new outputs)
    assert torch.allclose(f @ whole.coefficients, whole.vectors)


def test_collapsed_span_raises_with_the_hint(weighted_path):
    f = torch.ones(30, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="Only 1 of the 3.*my hint"):
        finalize_eigenpairs(f, weighted_path[0], 3, collapsed_hint="my hint")
