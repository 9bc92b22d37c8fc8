import pytest
import torch

from pyg_spectral.losses import NestedOMMLoss, build_loss
from pyg_spectral.operators import LazyAdjacency, NormalizedAdjacency

from . import _brute


@pytest.fixture(scope="module")
def op(karate):
    return LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)


@pytest.fixture(scope="module")
def F0():
    return torch.randn(34, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("order", [1, 2, "1+2"])
@pytest.mark.parametrize("nesting", ["joint", "sequential", None])
@pytest.mark.parametrize("gradient", ["custom", "autograd"])
def test_gradient_matches_definition(op, F0, order, nesting, gradient):
    expected = _brute.nested_gradient(lambda F, s: _brute.omm(op, F, s, order), F0, nesting)
    got, value = _brute.loss_gradient(NestedOMMLoss(5, order=order, nesting=nesting, gradient=gradient), op, F0)
    assert torch.allclose(got, expected, atol=1e-12)
    if nesting != "joint":
        assert value.item() == pytest.approx(_brute.omm(op, F0, 5, order).item(), abs=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_split_value_is_product_of_part_moments(op, F0, order):
    """With split=True each product of expectations takes factors from distinct parts.

    (Custom and autograd gradients then agree only in expectation over random
    splits: autograd sends a part's Q gradient through T to nodes outside it.)
    """
    loss = NestedOMMLoss(5, order=order, nesting=None)
    value = loss(F0, op.matvec(F0), weight=op.measure, split=True)
    auto = NestedOMMLoss(5, order=order, nesting=None, gradient="autograd")
    assert value.item() == pytest.approx(auto(F0, op.matvec(F0), weight=op.measure, split=True).item(), abs=1e-12)
    w = op.measure
    parts = torch.arange(34).tensor_split(loss.independent_parts)
    Ms = [(34 / len(p)) * (w[p, None] * F0[p]).T @ F0[p] for p in parts]
    TF = op.matvec(F0)
    Qs = [(34 / len(p)) * (w[p, None] * F0[p]).T @ TF[p] for p in parts]
    Qs = [0.5 * (q + q.T) for q in Qs]  # the symmetric part of each estimate
    trQ = torch.trace((w[:, None] * F0).T @ TF)
    if order == 1:
        expected = -2 * trQ + 0.5 * (torch.trace(Ms[0] @ Qs[1]) + torch.trace(Ms[1] @ Qs[0]))
    else:
        c = 4
        t1 = sum(torch.trace(Ms[a] @ Qs[(a + 1) % c]) for a in range(c)) / c
        t2 = sum(torch.trace(Ms[a] @ Ms[(a + 1) % c] @ Qs[(a + 2) % c]) for a in range(c)) / c
        t3 = sum(torch.trace(Ms[a] @ Ms[(a + 1) % c] @ Ms[(a + 2) % c] @ Qs[(a + 3) % c]) for a in range(c)) / c
        expected = -4 * trQ + 6 * t1 - 4 * t2 + t3
    assert value.item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, "1+2"])
def test_optimum_is_orthonormal_top_eigenvectors(op, order):
    S = torch.from_numpy(op.symmetric_matrix().toarray())
    lam, U = torch.linalg.eigh(S)
    lam, U = lam.flip(0)[:4], U.flip(1)[:, :4]
    F = (U * 34**0.5).requires_grad_()  # orthonormal in L2(rho): M = I
    loss = NestedOMMLoss(4, order=order)(F, op.matvec(F.detach()), weight=op.measure)
    (g,) = torch.autograd.grad(loss, F)
    assert g.abs().max() < 1e-12
    # Joint nesting, uniform alpha: sum_i alpha_i * (-sum_{l<=i} lambda_l) per order.
    per_order = -(lam * torch.linspace(1, 0.25, 4, dtype=torch.float64)).sum()
    assert loss.item() == pytest.approx((2 if order == "1+2" else 1) * per_order.item())


def test_rejects_non_psd_operator(karate):
    loss = build_loss("nested_omm", 4)
    with pytest.raises(ValueError, match="positive semi-definite"):
        loss.check_operator(NormalizedAdjacency.from_edge_index(karate.edge_index))
    loss.check_operator(LazyAdjacency.from_edge_index(karate.edge_index))


def test_unbounded_below_on_negative_eigenvalue(karate):
    """Why the PSD check exists: scaling a negative-eigenvalue mode drives the loss to -inf."""
    op = NormalizedAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    lam, U = torch.linalg.eigh(torch.from_numpy(op.symmetric_matrix().toarray()))
    u = U[:, :1] * 34**0.5  # lambda_min < 0
    loss_fn = NestedOMMLoss(1)
    values = [loss_fn(c * u, op.matvec(c * u), weight=op.measure).item() for c in (1.0, 10.0, 100.0)]
    assert lam[0] < 0 and values[0] > values[1] > values[2] and values[2] < -1e6


def test_bad_order_and_parts(F0):
    with pytest.raises(ValueError, match="order"):
        NestedOMMLoss(5, order=3)
    with pytest.raises(ValueError, match="cannot be split"):
        NestedOMMLoss(5, order=2)(F0[:3], F0[:3], split=True)
    assert "order='2'" in repr(NestedOMMLoss(5, order=2))
