import torch

from pyg_spectral.encoders import RitzHead
from pyg_spectral.losses import NestedLoRALoss, ritz_residual_loss
from pyg_spectral.operators import LazyAdjacency


def test_gradient_is_the_nested_lora_gradient_at_a_solved_head(karate):
    """At a head solved by Rayleigh–Ritz (and scaled as the loss's minimiser in the span), the nested LoRA
    gradient of column j is the Ritz residual times a positive column weight; un-nested, the weight is 4 for
    every column: the surrogate's gradient, times 4."""
    op = LazyAdjacency.from_edge_index(karate.edge_index, dtype=torch.float64)
    h = torch.randn(34, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    head = RitzHead(torch.nn.Identity(), out_channels=5)
    theta = head.solve_moments_(*_moments(h, op), dtype=torch.float64)
    f = (h @ head.coef).requires_grad_()
    tf = op.matvec(f.detach())
    (surrogate,) = torch.autograd.grad(ritz_residual_loss(f, tf, theta, op.measure), f)
    assert surrogate.abs().max() > 1e-3  # a random span: the residual is not small
    (plain,) = torch.autograd.grad(NestedLoRALoss(5, nesting=None)(f, tf, weight=op.measure), f)
    assert torch.allclose(plain, 4 * surrogate, atol=1e-12)
    (nested,) = torch.autograd.grad(NestedLoRALoss(5, nesting="joint")(f, tf, weight=op.measure), f)
    scale = (nested * surrogate).sum(0) / (surrogate * surrogate).sum(0)
    assert bool((scale > 0).all())
    assert torch.allclose(nested, surrogate * scale, atol=1e-12)


def _moments(h, op):
    hw = h * op.measure.unsqueeze(-1)
    return hw.T @ h, hw.T @ op.matvec(h)
