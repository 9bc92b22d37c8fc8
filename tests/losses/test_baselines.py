"""Baselines: gradients against their definitions, and what they reach against eigsh."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import grid_graph, path_graph
from pyg_spectral.losses import MuEigenGameLoss, NeuralEFLoss, SpINLoss, build_loss
from pyg_spectral.metrics import gap_cutoff, subspace_distance
from pyg_spectral.operators import build_operator


@pytest.fixture
def problem():
    torch.manual_seed(0)
    data = path_graph(12)
    op = build_operator("laplacian", data.edge_index, None, 12, dtype=torch.float64)
    f = torch.randn(12, 4, dtype=torch.float64)
    return op, f


def masked_brute(f, op, objective):
    """sum_i d objective_i / d f_i, with f_{<i} held fixed (autograd through T)."""
    grad = torch.zeros_like(f)
    for i in range(f.size(1)):
        g = f.clone().requires_grad_(True)
        cols = [g[:, j].detach() if j < i else g[:, j] for j in range(f.size(1))]
        h = torch.stack(cols, 1)
        val = objective(h, op.matvec(h), i)
        (gi,) = torch.autograd.grad(val, g)
        grad[:, i] = gi[:, i]
    return grad


def test_spin_masked_gradient(problem):
    op, f = problem
    rho = op.measure.unsqueeze(-1)

    def lam_ii(h, th, i):
        sigma = (rho * h).T @ h
        pi = (rho * h).T @ th
        pi = 0.5 * (pi + pi.T)
        L = torch.linalg.cholesky(sigma)
        Linv = torch.linalg.inv(L)
        return (Linv @ pi @ Linv.T)[i, i]

    expected = -masked_brute(f, op, lam_ii)
    x = f.clone().requires_grad_(True)
    with torch.no_grad():
        tf = op.matvec(x)
    SpINLoss(4, jitter=0.0)(x, tf, weight=op.measure).backward()
    assert torch.allclose(x.grad, expected, atol=1e-10)


def test_neuralef_gradient(problem):
    op, f = problem
    rho = op.measure.unsqueeze(-1)

    def objective(h, th, j):
        d = ((rho * h) * h).sum(0)
        R = ((rho * h).T @ th) / (d.unsqueeze(1) * d.unsqueeze(0)).sqrt()
        R = 0.5 * (R + R.T)
        return R[j, j] - sum(R[i, j] ** 2 / R[i, i] for i in range(j))

    expected = -masked_brute(f, op, objective)
    x = f.clone().requires_grad_(True)
    with torch.no_grad():
        tf = op.matvec(x)
    NeuralEFLoss(4)(x, tf, weight=op.measure).backward()
    assert torch.allclose(x.grad, expected, atol=1e-10)


def test_mu_eigengame_gradient_is_minus_the_update(problem):
    op, f = problem
    rho = op.measure.unsqueeze(-1)
    v = f / ((rho * f * f).sum(0)).sqrt()  # unit norm in L2(rho): then d/df = d/dv projected
    x = v.clone().requires_grad_(True)
    with torch.no_grad():
        tv = op.matvec(x)
    MuEigenGameLoss(4)(x, tv, weight=op.measure).backward()
    for j in range(4):
        upd = tv[:, j] - sum(((rho[:, 0] * v[:, j] * tv[:, i]).sum()) * v[:, i] for i in range(j))
        upd = rho[:, 0] * upd  # gradient of E_rho[...] carries the measure
        proj = upd - (upd * v[:, j]).sum() * rho[:, 0] * v[:, j] / (rho[:, 0] * v[:, j] ** 2).sum()
        assert torch.allclose(-x.grad[:, j], proj, atol=1e-10)


def test_lora_alias_is_unnested():
    loss = build_loss("lora", 5, nesting="joint")
    assert loss.nesting is None


# With the final Rayleigh-Ritz every method's span gives the eigenpairs (measured on a 10 x 10 grid, k = 6:
# subspace distance 4e-9 (SpIN) to 7e-7 (NeuralEF)).
@pytest.mark.slow
@pytest.mark.parametrize("loss", ["spin", "neuralef", "mu_eigengame", "lora"])
def test_baselines_learn_the_subspace(loss):
    data = grid_graph(10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NeuralSpectralEmbedding(6, loss=loss, optimizer="adam", lr=1e-2, max_steps=3000,
                                        n_oversamples=0, progress=False).fit(data)
    vals, vecs = exact_eigenpairs(data, 7)
    kk = gap_cutoff(vals, 6)
    assert np.abs(model.eigenvalues_.numpy() - vals[:6]).max() <= 1e-5
    assert subspace_distance(model.embedding_[:, :kk], vecs[:, :kk]) <= 1e-5


# Without Rayleigh-Ritz, each method's own functions (SpIN: whitened by its Cholesky factor), first 5 modes
# of a 10 x 12 grid (well separated). Measured min |cos|: nested LoRA 0.98, SpIN 1.0, NeuralEF and
# mu-EigenGame ~0.99 on these modes, un-nested LoRA 0.02 (right subspace, arbitrary basis).
@pytest.mark.slow
@pytest.mark.parametrize("loss,min_cos", [("nested_lora", 0.95), ("spin", 0.999), ("neuralef", 0.9),
                                          ("mu_eigengame", 0.9)])
def test_ordering_without_rayleigh_ritz(loss, min_cos):
    cos, _ = _raw_order(loss)
    assert cos.min() >= min_cos


@pytest.mark.slow
def test_unnested_lora_learns_the_subspace_but_not_the_order():
    cos, sd = _raw_order("lora")
    assert sd <= 1e-3
    assert cos.min() < 0.5


def _raw_order(loss):
    from pyg_spectral.metrics import mode_cosines

    data = grid_graph(10, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NeuralSpectralEmbedding(6, loss=loss, optimizer="adam", lr=1e-2, max_steps=3000, tol=0.0,
                                        n_oversamples=0, rayleigh_ritz=False, progress=False).fit(data)
    vals, vecs = exact_eigenpairs(data, 7)
    u = model.embedding_
    return mode_cosines(u[:, :5], vecs[:, :5], vals[:5], tol=1e-8), subspace_distance(u, vecs[:, :6])
