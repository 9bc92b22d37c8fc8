import pytest
import torch

from pyg_spectral.encoders.base import encoder_inputs
from pyg_spectral.encoders.residual_mlp import ResidualMLPEncoder


def test_shapes_and_inputs_kind():
    enc = ResidualMLPEncoder(7, 5, hidden_channels=16, num_layers=4)
    x = torch.randn(12, 7)
    assert enc(x).shape == (12, 5)
    assert enc.representation(x).shape == (12, 16)
    assert len(enc.blocks) == 3  # one input layer + num_layers - 1 residual blocks
    assert encoder_inputs(enc) == "features"
    assert ResidualMLPEncoder(7, 5, hidden_channels=16, num_layers=1, projector=False)(x).shape == (12, 5)


def test_zero_initialised_block_is_the_identity():
    torch.manual_seed(0)
    enc = ResidualMLPEncoder(6, 3, hidden_channels=8, num_layers=3)
    h = torch.randn(9, 8)
    block = enc.blocks[1]
    with torch.no_grad():
        block.lin.weight.zero_()
        block.lin.bias.zero_()
    assert torch.equal(block(h), h)
    # zeroing every block leaves only the input layer: representation = relu(norm(W1 x))
    with torch.no_grad():
        for b in enc.blocks:
            b.lin.weight.zero_()
            b.lin.bias.zero_()
    x = torch.randn(9, 6)
    torch.testing.assert_close(enc.representation(x), enc.input(x))


def test_representation_is_the_projector_input():
    torch.manual_seed(1)
    x = torch.randn(11, 6)
    for projector in (True, False):
        enc = ResidualMLPEncoder(6, 4, hidden_channels=10, num_layers=3, projector=projector)
        torch.testing.assert_close(enc(x), enc.projector(enc.representation(x)))
        assert not torch.allclose(enc(x)[:, :4], enc.representation(x)[:, :4])


def test_rows_are_independent_of_the_batch():
    # mini-batch estimators evaluate heads and tails separately: a node's output must not depend on its batch
    torch.manual_seed(2)
    enc = ResidualMLPEncoder(5, 3, hidden_channels=8, num_layers=3)
    x = torch.randn(20, 5)
    torch.testing.assert_close(enc(x)[:7], enc(x[:7]))


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="hidden_channels"):
        ResidualMLPEncoder(5, 3, hidden_channels=0)
    with pytest.raises(ValueError, match="norm"):
        ResidualMLPEncoder(5, 3, norm="batch_norm")
    enc = ResidualMLPEncoder(5, 3, hidden_channels=8, num_layers=2)
    with pytest.raises(ValueError, match=r"\[n, 5\]"):
        enc(torch.randn(4, 6))
    with pytest.raises(ValueError, match="features"):
        enc(None)


def test_trains_in_the_estimator_minibatch():
    from pyg_spectral import NeuralSpectralEmbedding
    from pyg_spectral.datasets import planted_partition_graph

    data = planted_partition_graph(200, 4, avg_degree=10.0, mixing=0.05, seed=0)
    labels = data.y
    data.x = torch.nn.functional.one_hot(labels, 4).float() + 0.1 * torch.randn(200, 4)
    enc = ResidualMLPEncoder(4, 12, hidden_channels=16, num_layers=2)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NeuralSpectralEmbedding(4, encoder=enc, n_oversamples=8, loss="nested_omm", batch_size=64,
                                        sampler="edge", max_steps=20, eval_every=10, progress=False).fit(data)
    assert model.embedding_.shape == (200, 4)
    assert torch.isfinite(model.embedding_).all()
