import pytest
import torch

from pyg_spectral.encoders import MLPEncoder


def test_forward_and_missing_features():
    enc = MLPEncoder(7, 4, hidden_channels=16, num_layers=2)
    assert enc(torch.randn(10, 7)).shape == (10, 4)
    with pytest.raises(ValueError, match="features"):
        enc(None)
