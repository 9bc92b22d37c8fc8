import torch

from pyg_spectral.losses import cross, gram
from pyg_spectral.operators import LazyAdjacency


def test_routed_gram_has_plain_values_and_routed_gradients():
    f = torch.randn(20, 4, dtype=torch.float64, requires_grad=True)
    plain, routed = gram(f), gram(f, routed=True)
    assert torch.allclose(plain, routed)
    # Entry (0, 3) must send its gradient to column 3 only.
    (g,) = torch.autograd.grad(routed[0, 3], f, retain_graph=True)
    assert torch.all(g[:, :3] == 0) and torch.any(g[:, 3] != 0)
    (g,) = torch.autograd.grad(routed[3, 0], f)
    assert torch.all(g[:, :3] == 0)


def test_detached_cross_surrogate_has_self_adjoint_gradient(karate):
    op = LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    f = torch.randn(34, 3, dtype=torch.float64, requires_grad=True)
    C = torch.randn(3, 3, dtype=torch.float64)
    C = C + C.T
    # Autograd through T vs surrogate with T f detached: same value (up to transpose) and gradient.
    exact = cross(f, op.matvec(f), op.measure, tf_detached=False)
    (g_exact,) = torch.autograd.grad((C * exact).sum(), f)
    surrogate = cross(f, op.matvec(f.detach()), op.measure, tf_detached=True)
    (g_sur,) = torch.autograd.grad((C * surrogate).sum(), f)
    assert torch.allclose(surrogate, exact) and torch.allclose(surrogate, surrogate.T)
    assert torch.allclose(g_exact, g_sur, atol=1e-12)
    expected = 2 * op.measure[:, None] * op.matvec(f.detach()) @ C
    assert torch.allclose(g_sur, expected, atol=1e-12)
