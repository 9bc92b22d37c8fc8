import pytest
import torch

from pyg_spectral.encoders import MLPEncoder


def test_forward_and_missing_features():
    enc = MLPEncoder(7, 4, hidden_channels=16, num_layers=2)
    assert enc(torch.randn(10, 7)).shape == (10, 4)
    with pytest.raises(ValueError, match="features"):
        enc(None)


def _ritz_reference(x, op, m):
    """Top-m Ritz values and Ritz vectors of ``op`` on the span of ``x``, dense (scipy), in the measure's inner
    product."""
    import numpy as np
    import scipy.linalg

    rho = op.measure.double().numpy()
    t = op.symmetric_matrix().toarray()  # self-adjoint in the measure: T = R^{-1/2} S R^{1/2} for a symmetric S
    x = x.double().numpy()
    xr = x * np.sqrt(rho)[:, None]
    theta, c = scipy.linalg.eigh(xr.T @ t @ xr, xr.T @ xr)
    c = c[:, ::-1][:, :m]
    return theta[::-1][:m], x @ c


def test_ritz_initialize_starts_at_the_rayleigh_ritz_solution_on_the_inputs():
    """The skip's outputs are the top Ritz vectors of the operator on the inputs' span, the MLP adds nothing."""
    import numpy as np

    from pyg_spectral.datasets import grid_graph
    from pyg_spectral.metrics import subspace_distance
    from pyg_spectral.operators import LazyAdjacency

    op = LazyAdjacency.from_edge_index(grid_graph(6, 9).edge_index, dtype=torch.float64)
    x = torch.randn(54, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta, u = _ritz_reference(x, op, 5)
    enc = MLPEncoder(12, 5, hidden_channels=16, skip=True).double().ritz_initialize_(x, op)
    f = enc(x).detach()
    assert subspace_distance(f.numpy(), u) <= 1e-10
    rayleigh = torch.diag(f.T @ (op.measure[:, None] * op.matvec(f))).numpy()
    assert np.allclose(rayleigh, theta, atol=1e-10)  # orthonormal Ritz functions, in descending order
    scaled = MLPEncoder(12, 5, hidden_channels=16, skip=True).double().ritz_initialize_(x, op, scaled=True)
    g = scaled(x).detach()
    assert np.allclose(torch.diag(g.T @ (op.measure[:, None] * g)).numpy(), theta, atol=1e-10)  # norms sqrt(theta)


def test_ritz_initialize_in_node_chunks_is_the_same_start():
    """``chunk`` (mini-batch training: memory of a chunk's neighbourhood) gives the streamed start."""
    from pyg_spectral.datasets import grid_graph
    from pyg_spectral.operators import NormalizedAdjacency

    op = NormalizedAdjacency.from_edge_index(grid_graph(6, 9).edge_index, dtype=torch.float64)
    x = torch.randn(54, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    whole = MLPEncoder(12, 5, hidden_channels=16, skip=True).double().ritz_initialize_(x, op)
    chunked = MLPEncoder(12, 5, hidden_channels=16, skip=True).double().ritz_initialize_(x, op, chunk=10)
    f, g = whole(x).detach(), chunked(x).detach()
    signs = torch.sign((f * g).sum(0))  # Ritz vectors are defined up to sign
    assert torch.allclose(f, g * signs, atol=1e-10)


def test_ritz_initialize_leaves_the_columns_past_the_inputs_rank_to_the_mlp():
    from pyg_spectral.datasets import cycle_graph
    from pyg_spectral.operators import LazyAdjacency

    op = LazyAdjacency.from_edge_index(cycle_graph(20).edge_index, dtype=torch.float64)
    x = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).repeat(1, 2)  # rank 2
    enc = MLPEncoder(4, 3, hidden_channels=8, skip=True).double().ritz_initialize_(x, op)
    assert torch.count_nonzero(enc.skip.weight[2]) == 0 and torch.count_nonzero(enc.mlp.lins[-1].weight[2]) > 0
    assert torch.count_nonzero(enc.mlp.lins[-1].weight[:2]) == 0


def test_ritz_initialize_needs_the_skip_and_every_node():
    from pyg_spectral.datasets import cycle_graph
    from pyg_spectral.operators import LazyAdjacency

    op = LazyAdjacency.from_edge_index(cycle_graph(8).edge_index)
    with pytest.raises(RuntimeError, match="skip=True"):
        MLPEncoder(3, 2).ritz_initialize_(torch.randn(8, 3), op)
    with pytest.raises(ValueError, match=r"\[n, 3\] inputs of every node \(n = 8\), got \(8, 4\)"):
        MLPEncoder(3, 2, skip=True).ritz_initialize_(torch.randn(8, 4), op)
    with pytest.raises(ValueError, match=r"\(n = 8\), got \(5, 3\)"):  # not every node
        MLPEncoder(3, 2, skip=True).ritz_initialize_(torch.randn(5, 3), op)
    nan = torch.randn(8, 3)
    nan[2, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        MLPEncoder(3, 2, skip=True).ritz_initialize_(nan, op)


def test_skip_is_a_network_option():
    from pyg_spectral.encoders import build_encoder

    assert build_encoder("mlp", 4, num_nodes=10, x=torch.randn(10, 3), encoder_kwargs={"skip": True}).skip is not None
    assert build_encoder("gcn", 4, num_nodes=10, x=torch.randn(10, 3), encoder_kwargs={"skip": True}).skip is not None
    with pytest.raises(ValueError, match=r"skip=True.*needs in_channels > 0"):  # no features to map
        build_encoder("gcn", 4, num_nodes=10, encoder_kwargs={"skip": True})


def test_kept_ritz_start_is_extra_frozen_columns_beside_the_random_network():
    from pyg_spectral.datasets import grid_graph
    from pyg_spectral.operators import NormalizedAdjacency
    from pyg_spectral.spectrum.ritz import rayleigh_ritz

    op = NormalizedAdjacency.from_edge_index(grid_graph(5, 6).edge_index, dtype=torch.float64)
    x = torch.randn(30, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    enc = MLPEncoder(7, 3, hidden_channels=8, skip=True).double()
    torch.manual_seed(0)
    plain = MLPEncoder(7, 3, hidden_channels=8, skip=True).double()
    enc.ritz_initialize_(x, op, keep_start=True)
    f = enc(x).detach()
    assert f.shape == (30, 6) and enc.start.shape == (3, 7)
    assert torch.count_nonzero(enc.skip.weight) == 0
    assert torch.allclose(f[:, :3], plain.mlp(x))  # the network keeps its random start
    theta = rayleigh_ritz(x, op.matvec(x), op.measure)[0][:3]
    kept = f[:, 3:]
    rayleigh = torch.diag(kept.T @ (op.measure[:, None] * op.matvec(kept))) / torch.diag(kept.T @ (op.measure[:, None] * kept))
    assert torch.allclose(rayleigh, theta, atol=1e-10)
    assert not enc.start.requires_grad and "start" in dict(enc.named_buffers())
