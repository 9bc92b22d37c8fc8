import pytest
import torch

from pyg_spectral.encoders import EmbeddingEncoder


def test_shape_rows_and_seed():
    enc = EmbeddingEncoder(50, 6, seed=3)
    out = enc()
    assert out.shape == (50, 6)
    assert torch.equal(enc(n_id=torch.tensor([4, 7])), out[[4, 7]])
    assert torch.equal(EmbeddingEncoder(50, 6, seed=3)(), out)
    assert "num_nodes=50" in repr(enc)


def test_measure_scaling_gives_metric_gradient():
    """A step on the table moves f_i by lr * dL/df_i / rho_i (the L2(rho) gradient)."""
    rho = torch.tensor([0.1, 0.2, 0.3, 0.4])
    enc = EmbeddingEncoder(4, 2, measure=rho, seed=0)
    f0 = enc().detach()
    target = torch.randn(4, 2)
    loss = ((enc() - target) * rho[:, None] * enc()).sum()  # any loss
    loss.backward()
    grad_f = (2 * enc().detach() - target) * rho[:, None]
    with torch.no_grad():
        enc.weight -= 0.01 * enc.weight.grad
    assert torch.allclose(enc().detach() - f0, -0.01 * grad_f / rho[:, None], atol=1e-6)
    assert torch.allclose(f0.std(), torch.tensor(0.1), atol=0.08)  # init_scale is in f units


def test_column_grad_scale():
    enc = EmbeddingEncoder(5, 3, seed=0)
    enc.column_grad_scale.copy_(torch.tensor([1.0, 2.0, 0.5]))
    enc().sum().backward()
    g = enc.weight.grad / enc.weight.grad[:, :1]
    assert torch.allclose(g, torch.tensor([1.0, 2.0, 0.5]).expand(5, 3))


def test_bad_measure():
    with pytest.raises(ValueError, match="measure"):
        EmbeddingEncoder(3, 2, measure=torch.tensor([0.5, 0.5, 0.0]))
