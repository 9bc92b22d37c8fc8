import pytest
import torch

from pyg_spectral.losses import NestedLoRALoss
from pyg_spectral.operators import LazyAdjacency

from . import _brute


@pytest.fixture(scope="module")
def op(karate):
    return LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)


@pytest.fixture(scope="module")
def F0():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(34, 6, dtype=torch.float64, generator=gen)


@pytest.mark.parametrize("nesting", ["joint", "sequential", None])
@pytest.mark.parametrize("split", [False, True])
def test_custom_and_autograd_gradients_agree(op, F0, nesting, split):
    g_custom, v_custom = _brute.loss_gradient(NestedLoRALoss(6, nesting=nesting, gradient="custom"), op, F0, split)
    g_auto, v_auto = _brute.loss_gradient(NestedLoRALoss(6, nesting=nesting, gradient="autograd"), op, F0, split)
    assert torch.allclose(g_custom, g_auto, rtol=0, atol=1e-6)
    assert (g_custom - g_auto).abs().max() < 1e-12
    assert torch.allclose(v_custom, v_auto, atol=1e-12)


@pytest.mark.parametrize("nesting", ["joint", "sequential", None])
@pytest.mark.parametrize("gradient", ["custom", "autograd"])
def test_gradient_matches_definition(op, F0, nesting, gradient):
    expected = _brute.nested_gradient(lambda F, s: _brute.lora(op, F, s), F0, nesting)
    got, value = _brute.loss_gradient(NestedLoRALoss(6, nesting=nesting, gradient=gradient), op, F0)
    assert torch.allclose(got, expected, atol=1e-12)
    if nesting != "joint":  # the value of a sequential loss is the rank-m objective
        assert value.item() == pytest.approx(_brute.lora(op, F0, 6).item(), abs=1e-12)


def test_optimum_is_scaled_eigenvectors(op):
    S = torch.from_numpy(op.symmetric_matrix().toarray())
    lam, U = torch.linalg.eigh(S)
    lam, U = lam.flip(0)[:5], U.flip(1)[:, :5]
    F = (U * lam.sqrt() * 34**0.5).requires_grad_()  # mean convention: ||f_l||_rho^2 = lambda_l
    loss = NestedLoRALoss(5)(F, op.matvec(F.detach()), weight=op.measure)
    (g,) = torch.autograd.grad(loss, F)
    assert g.abs().max() < 1e-12
    assert loss.item() == pytest.approx(-(lam**2 * torch.linspace(1, 0.2, 5, dtype=torch.float64)).sum().item())
    assert torch.allclose(NestedLoRALoss.eigenvalues_from_norms(F.detach(), op.measure), lam)


def test_minimizing_recovers_ordered_eigenpairs(op):
    """Plain L-BFGS on the loss (no Rayleigh-Ritz) learns ordered top eigenvectors."""
    S = torch.from_numpy(op.symmetric_matrix().toarray())
    lam, U = torch.linalg.eigh(S)
    lam, U = lam.flip(0)[:4], U.flip(1)[:, :4]
    loss_fn = NestedLoRALoss(4, nesting="joint", gradient="autograd")
    F = torch.randn(34, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    opt = torch.optim.LBFGS([F], max_iter=5000, tolerance_grad=1e-14, tolerance_change=0, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn(F, op.matvec(F), weight=op.measure)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    norms2 = NestedLoRALoss.eigenvalues_from_norms(F.detach(), op.measure)
    assert torch.allclose(norms2, lam, atol=1e-8)
    cos = (torch.nn.functional.normalize(F.detach(), dim=0) * U).sum(0).abs()
    assert torch.allclose(cos, torch.ones(4, dtype=torch.float64), atol=1e-6)


def test_input_checks(op, F0):
    loss_fn = NestedLoRALoss(6)
    with pytest.raises(ValueError, match="shape"):
        loss_fn(F0[:, :5], F0[:, :5])
    with pytest.raises(ValueError, match="tf must have the shape"):
        loss_fn(F0, F0[:10])
    with pytest.raises(ValueError, match="autograd"):
        NestedLoRALoss(6, gradient="autograd")(F0.clone().requires_grad_(), F0)
    with pytest.raises(ValueError, match="cannot be split"):
        loss_fn(F0[:1], F0[:1], split=True)
    with pytest.raises(ValueError, match="gradient"):
        NestedLoRALoss(6, gradient="finite-differences")
    assert "nesting='joint'" in repr(loss_fn)
