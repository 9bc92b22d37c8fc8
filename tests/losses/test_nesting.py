import pytest
import torch

from pyg_spectral.losses import nesting_masks, prefix_weights


def test_joint_masks_are_reverse_cumsum():
    v, W = nesting_masks(4, "joint")
    assert torch.allclose(v, torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=torch.float64))
    for l in range(4):
        for m in range(4):
            assert W[l, m] == v[max(l, m)]


def test_joint_step_includes_last_index():
    alpha = prefix_weights(5, step=2)
    assert torch.allclose(alpha, torch.tensor([0, 1, 0, 1, 1], dtype=torch.float64) / 3)


def test_custom_weights_are_normalized():
    v, _ = nesting_masks(3, "joint", weights=[0.0, 0.0, 2.0])
    assert torch.allclose(v, torch.ones(3, dtype=torch.float64))  # = un-nested
    with pytest.raises(ValueError, match="non-negative"):
        prefix_weights(3, weights=[1.0, -1.0, 1.0])


def test_sequential_and_unnested():
    v, W = nesting_masks(3, "sequential")
    assert torch.equal(v, torch.ones(3, dtype=torch.float64))
    assert torch.equal(W, torch.triu(torch.ones(3, 3, dtype=torch.float64)))
    v, W = nesting_masks(3, None)
    assert torch.equal(W, torch.ones(3, 3, dtype=torch.float64))


def test_bad_nesting():
    with pytest.raises(ValueError, match="Unknown nesting"):
        nesting_masks(3, "diagonal")
    with pytest.raises(ValueError, match="step"):
        prefix_weights(3, step=0)
