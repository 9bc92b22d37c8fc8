"""PyG forwards **kwargs to scipy's eigsh/eigs: AddNeuralEigenvectorPE accepts them with a meaning
(or accepted-and-ignored, documented) and refuses anything else at construction."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.transforms import AddLaplacianEigenvectorPE

from pyg_spectral import exact_eigenpairs
from pyg_spectral.datasets import grid_graph
from pyg_spectral.exceptions import ConvergenceWarning
from pyg_spectral.metrics import gap_cutoff, subspace_distance
from pyg_spectral.transforms import AddNeuralEigenvectorPE
from pyg_spectral.transforms.neural_pe import ARPACK_KEYWORDS, TOL_FLOOR


def test_pyg_style_eigsh_keywords_run_and_match_pyg():
    # the keywords people pass to PyG's transform for hard graphs; here they must not reach the estimator raw
    data = grid_graph(10, 12)  # >= 100 nodes: PyG runs eigsh with these keywords
    v0 = np.random.default_rng(0).random(data.num_nodes)
    kwargs = dict(ncv=20, maxiter=1000, tol=1e-8, v0=v0, which="SA", sigma=None)
    with pytest.warns(UserWarning, match="residual floor"):
        ours = AddNeuralEigenvectorPE(4, is_undirected=True, add_eigenvalues=True, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        start = time.perf_counter()
        out = ours(data.clone())
        elapsed = time.perf_counter() - start
    assert elapsed < 20  # the floored tol is reachable: no 10,000-step run
    pyg = AddLaplacianEigenvectorPE(4, is_undirected=True, ncv=20, maxiter=1000, tol=1e-8, v0=v0)(data.clone())
    vals, _ = exact_eigenpairs(data, 6)
    assert np.abs(out.laplacian_eigenvector_pe_eigenvalues.numpy() - vals[1:5]).max() <= 1e-6
    kk = gap_cutoff(vals[1:], 4, 1e-6)
    assert subspace_distance(out.laplacian_eigenvector_pe[:, :kk], pyg.laplacian_eigenvector_pe[:, :kk]) <= 1e-6
    assert np.allclose(ours.estimator_kwargs["tol"], TOL_FLOOR[torch.float32])
    assert ours.estimator_kwargs["max_steps"] == 1000 and ours.estimator_kwargs["n_oversamples"] == 15
    assert "v0" not in ours.estimator_kwargs and "ncv" not in ours.estimator_kwargs


def test_mapping_of_each_keyword():
    pe = AddNeuralEigenvectorPE(8, maxiter=300, ncv=20, tol=1e-3, seed=3)
    assert pe.estimator_kwargs == dict(max_steps=300, n_oversamples=11, tol=1e-3, seed=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # ARPACK's tol=0 ("machine precision") is the floor of the dtype, silently
        assert AddNeuralEigenvectorPE(2, tol=0).estimator_kwargs["tol"] == TOL_FLOOR[torch.float32]
        assert AddNeuralEigenvectorPE(2, tol=1e-8, dtype=torch.float64).estimator_kwargs["tol"] == 1e-8
        AddNeuralEigenvectorPE(2, sigma=0.0, v0=np.ones(5), mode="normal", which="SM", ncv=None, maxiter=None)
    assert AddNeuralEigenvectorPE(2, maxiter=None).estimator_kwargs == dict(progress=False)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(ncv=9), ValueError, "ncv must be an integer >= k \\+ 2 = 10"),
    (dict(which="LM"), ValueError, "smallest eigenvalues"),
    (dict(mode="bogus"), ValueError, "not an ARPACK mode"),
    (dict(maxiter=0), ValueError, "maxiter must be a positive integer"),
    (dict(tol=-1.0), ValueError, "tol must be a non-negative"),
    (dict(maxiter=10, max_steps=10), ValueError, "not both"),
    (dict(ncv=20, n_oversamples=4), ValueError, "not both"),
    (dict(M=None), TypeError, "generalised problem"),
    (dict(return_eigenvectors=False), TypeError, "always returns eigenvectors"),
    (dict(num_components=3), ValueError, "fixed by k"),
    (dict(symmetrize=True), ValueError, "is_undirected=False"),
])
def test_bad_keywords_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        AddNeuralEigenvectorPE(8, **kwargs)


def test_unknown_keyword_lists_the_accepted_ones():
    with pytest.raises(TypeError, match="unknown keyword 'tolerance'") as info:
        AddNeuralEigenvectorPE(4, tolerance=1e-3)
    message = str(info.value)
    for name in list(ARPACK_KEYWORDS) + ["max_steps", "seed", "dtype", "device", "encoder"]:
        assert repr(name) in message
