import warnings

import numpy as np
import pytest
import torch
from torch_geometric.transforms import LargestConnectedComponents
from torch_geometric.utils import to_undirected

from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import cycle_graph
from pyg_spectral.encoders import KrylovEncoder
from pyg_spectral.exceptions import ConvergenceWarning
from pyg_spectral.exact import one_hop_extension
from pyg_spectral.metrics import eigenvalue_error, subspace_distance


@pytest.fixture(scope="module")
def cora_exact(cora_lcc):
    return exact_eigenpairs(cora_lcc, 16)


def test_cora_eigenpairs(cora_lcc, cora_exact, no_warnings):
    lam, vec = cora_exact
    est = NeuralSpectralEmbedding(16, encoder="krylov", progress=False).fit(cora_lcc)
    assert est.converged_ and float(est.residuals_.max()) <= 2 * est.tol
    assert eigenvalue_error(est.eigenvalues_, lam).max() <= 1e-3
    assert subspace_distance(est.embedding_, vec) <= 1e-2
    # one record per depth, grown in multiples of depth_step; the last one is where it stopped
    steps = [h["step"] for h in est.history_]
    assert steps[0] == 16 and steps[-1] == est.n_iter_ and all((b - a) % 8 == 0 < b - a for a, b in zip(steps, steps[1:]))
    assert est.history_[-1]["residual"] <= est.tol < est.history_[0]["residual"]
    # the fitted map reproduces the embedding on the same graph
    assert torch.allclose(est.transform(cora_lcc), est.embedding_, atol=1e-5)


def test_unseen_nodes_beat_one_hop_extension(cora_lcc, cora_exact):
    """Fit on the LCC of a random 80% of the nodes (which keep their global ids), transform the full graph."""
    n = cora_lcc.num_nodes
    mask = torch.rand(n, generator=torch.Generator().manual_seed(0)) < 0.8
    part = cora_lcc.subgraph(mask)
    part.n_id = torch.arange(n)[mask]
    part = LargestConnectedComponents()(part)
    est = NeuralSpectralEmbedding(16, encoder="krylov", progress=False).fit(part)
    assert est.converged_
    lam, vec = cora_exact
    ours = subspace_distance(est.transform(cora_lcc), vec)
    _, sub_vec = exact_eigenpairs(part, 16)
    baseline = subspace_distance(one_hop_extension(sub_vec, part.n_id.numpy(), cora_lcc.edge_index, n), vec)
    assert ours < baseline
    assert ours < 0.3


def test_seen_nodes_keep_their_features(cora_lcc):
    """Before the head, a node's features depend on its id and its component only: a new component or new
    neighbours elsewhere leave them unchanged, and its inputs are unchanged whatever is added."""
    n = cora_lcc.num_nodes
    enc = KrylovEncoder(cora_lcc.num_features, 24, depth=8)
    base = enc(cora_lcc.x, cora_lcc.edge_index)
    x_new = torch.rand(10, cora_lcc.num_features, generator=torch.Generator().manual_seed(0))
    x = torch.cat([cora_lcc.x, x_new])
    island = torch.cat([cora_lcc.edge_index, cycle_graph(10).edge_index + n], 1)
    assert torch.allclose(enc(x, island)[:n], base, rtol=0, atol=1e-12)
    attached = torch.cat([island, to_undirected(torch.tensor([[0], [n]]))], 1)   # a new neighbour of node 0
    enc.depth = 0
    assert torch.equal(enc(x, attached)[:n], base[:, :enc.block_width])


def test_encoder_shapes_and_recurrence():
    data = cycle_graph(12)
    enc = KrylovEncoder(0, 4, depth=2, random_channels=3)
    phi = enc(None, data.edge_index)
    assert phi.shape == (12, 9) and enc.num_features_out == 9
    b, ab, t2 = phi[:, :3], phi[:, 3:6], phi[:, 6:]
    a_hat = lambda y: 0.5 * (y.roll(1, 0) + y.roll(-1, 0))   # D^-1/2 A D^-1/2 of a cycle
    assert torch.allclose(ab, a_hat(b)) and torch.allclose(t2, 2 * a_hat(ab) - b)
    assert enc.grow_(3).depth == 5 and enc(None, data.edge_index).shape == (12, 18)
    with pytest.raises(ValueError, match="node features"):
        KrylovEncoder(5, 4)(torch.randn(12, 3), data.edge_index)


def test_refusals_and_non_convergence(karate):
    with pytest.raises(ValueError, match="krylov"):
        NeuralSpectralEmbedding(4, encoder="krylov", operator="random_walk", progress=False).fit(karate)
    with pytest.warns(ConvergenceWarning, match="max_depth"):
        est = NeuralSpectralEmbedding(4, encoder="krylov", tol=1e-6, progress=False,
                                      encoder_kwargs={"depth": 1, "max_depth": 2, "depth_step": 1,
                                                      "random_channels": 2, "feature_channels": 1}).fit(karate)
    assert not est.converged_ and est.n_iter_ == 2 and len(est.history_) == 2


def test_block_lanczos_basis_is_orthonormal_and_h_is_the_projection(karate):
    """Q^T Q = I and H = Q^T A_hat Q to rounding, and span(Q) = span(Phi) (the Chebyshev blocks)."""
    from pyg_spectral.encoders.krylov import _BlockLanczos

    enc = KrylovEncoder(0, 3, depth=4, random_channels=3)
    n = karate.num_nodes
    apply = enc.propagation(karate.edge_index, n)
    lanczos = _BlockLanczos(apply, enc.input_block(None, torch.arange(n)), enc.block_width, 1e-8)
    lanczos.extend(4)
    d = lanczos.offsets[5]
    q = lanczos.q[:, :d]
    assert torch.allclose(q.T @ q, torch.eye(d, dtype=q.dtype), atol=1e-12)
    theta, u, dim = lanczos.ritz(0.0, 1.0, d, 4)                     # all Ritz pairs of A_hat on the span
    assert dim == d and torch.allclose(u.T @ apply(u), torch.diag(theta), atol=1e-10)
    phi = enc(None, karate.edge_index)
    assert torch.allclose(phi - q @ (q.T @ phi), torch.zeros_like(phi), atol=1e-9)


def test_chebyshev_gram_from_moments_equals_phi_gram(karate):
    """G_ij = (mu_{i+j} + mu_{|i-j|}) / 2 reproduces Phi^T Phi, and Phi^T u, without forming Phi."""
    from pyg_spectral.encoders.krylov import _chebyshev_gram

    enc = KrylovEncoder(0, 3, depth=5, random_channels=4)
    phi = enc(None, karate.edge_index).double()
    u = torch.randn(karate.num_nodes, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gram, rhs = _chebyshev_gram(enc, u, None, karate.edge_index, None, karate.num_nodes, None)
    assert torch.allclose(gram, phi.T @ phi, atol=1e-10) and torch.allclose(rhs, phi.T @ u, atol=1e-10)


def test_head_is_the_small_one_and_reproduces_the_embedding(cora_lcc):
    """The fitted head is the least-norm one (its norm well below the Lanczos coefficients'), and Phi @ head is
    what fit returns: the embedding's residuals meet tol."""
    est = NeuralSpectralEmbedding(16, encoder="krylov", progress=False).fit(cora_lcc)
    last = est.history_[-1]
    assert last["head_residual"] <= est.tol and last["ridge"] > 0
    assert float(est.residuals_.max()) <= 2 * est.tol
    assert float(est.ritz_coefficients_.norm()) < 10.0


@pytest.mark.parametrize("kwargs", [{"ridge": 0.0}, {"ridge": float("nan")}, {"rcond": 0.0}])
def test_bad_ridge_or_rcond_is_refused(karate, kwargs):
    with pytest.raises(ValueError, match="ridge"):
        NeuralSpectralEmbedding(4, encoder="krylov", progress=False, encoder_kwargs=kwargs).fit(karate)
