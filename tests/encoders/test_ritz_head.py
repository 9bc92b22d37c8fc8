import warnings

import pytest
import torch

from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import cycle_graph
from pyg_spectral.encoders import MLPEncoder, RitzHead, build_encoder
from pyg_spectral.metrics import eigenvalue_error, subspace_distance
from pyg_spectral.operators import build_operator


def test_solved_head_recovers_eigenvectors_in_the_span():
    """If the trunk's span holds the top eigenvectors, the head returns them, scaled by sqrt(theta) (the nested
    losses' minimiser), whatever else the span holds."""
    data = cycle_graph(12)
    op = build_operator("lazy_adjacency", data.edge_index, num_nodes=12, dtype=torch.float64)
    lam, vec = exact_eigenpairs(data, 4, operator="lazy_adjacency")
    lam, vec = torch.as_tensor(lam), torch.as_tensor(vec)
    top = vec[:, :1]                                   # the simple top eigenvalue (the rest of a cycle pairs up)
    noise = torch.randn(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = torch.cat([top + noise[:, :1], noise, top], 1)  # mixed in, plus unrelated directions
    head = RitzHead(torch.nn.Identity(), out_channels=1)
    head.solve_(h, op.matvec(h), op.measure)
    f = h @ head.coef
    theta = float(lam[0])
    u = f / f.norm()
    assert abs(abs(float(u[:, 0] @ top[:, 0])) - 1) < 1e-10
    # L2(rho) norm of f is sqrt(theta)
    assert abs(float((f[:, 0] ** 2 * op.measure).sum()) - theta) < 1e-10


def test_mlp_default_is_ritz_head_and_refused_with_edge_batches(cora_lcc):
    enc = build_encoder("mlp", 4, num_nodes=cora_lcc.num_nodes, x=cora_lcc.x, head="ritz")
    assert isinstance(enc, RitzHead) and enc.trunk.mlp.channel_list[-1] == 64
    with pytest.raises(ValueError, match="sampler='node'/'neighbor'"):
        NeuralSpectralEmbedding(4, encoder="mlp", batch_size=64, sampler="edge", encoder_kwargs={"head": "ritz"},
                                progress=False).fit(cora_lcc)
    with pytest.raises(ValueError, match="head must be"):
        build_encoder("mlp", 4, num_nodes=cora_lcc.num_nodes, x=cora_lcc.x, head="other")


@pytest.mark.slow
def test_minibatch_default_learns_cora_eigenpairs(cora_lcc):
    """Node batches of 256 (about a tenth of Cora's LCC), k = 8, 1000 steps: the solved head, fed by averaged
    batch moments and trained on the row-wise Ritz residual, gets within 0.3 of the exact subspace (measured
    0.19; the trained linear head: 0.57), and the head is re-solved exactly, chunk by chunk, at the end."""
    lam, vec = exact_eigenpairs(cora_lcc, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralSpectralEmbedding(8, encoder="mlp", batch_size=256, max_steps=1000, progress=False).fit(cora_lcc)
    assert isinstance(est.encoder_, RitzHead) and est.n_iter_ == 1000
    assert subspace_distance(est.embedding_, vec) <= 0.3
    assert eigenvalue_error(est.eigenvalues_, lam).max() <= 2e-2


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["mlp", "gcn"])
def test_network_defaults_learn_cora_eigenpairs(cora_lcc, encoder):
    """Library defaults, full batch, Cora's LCC (top gaps ~1e-3), k = 8: the network with its solved head reaches
    the exact eigenpairs (max eigenvalue error <= 1e-3, subspace distance <= 1e-2); it stops itself when the
    residual stops falling."""
    lam, vec = exact_eigenpairs(cora_lcc, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralSpectralEmbedding(8, encoder=encoder, progress=False).fit(cora_lcc)
    assert isinstance(est.encoder_, RitzHead) and est.n_iter_ < 3000
    assert eigenvalue_error(est.eigenvalues_, lam).max() <= 1e-3
    assert subspace_distance(est.embedding_, vec) <= 1e-2


def test_seen_nodes_keep_their_outputs(cora_lcc):
    """An MLP with a solved head maps each node on its own features: new nodes leave the old ones' outputs as
    they were."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralSpectralEmbedding(4, encoder="mlp", max_steps=50, progress=False).fit(cora_lcc)
    n = cora_lcc.num_nodes
    grown = cora_lcc.clone()
    grown.x = torch.cat([cora_lcc.x, torch.rand(5, cora_lcc.num_features, generator=torch.Generator().manual_seed(0))])
    grown.edge_index = torch.cat([cora_lcc.edge_index, torch.tensor([[0, n], [n, 0]])], 1)
    with torch.no_grad():
        assert torch.equal(est.encoder_(grown.x)[:n], est.encoder_(cora_lcc.x))
    # transform normalises each column over the graph it is given: the same directions, rescaled
    cos = torch.nn.functional.cosine_similarity(est.transform(grown)[:n], est.transform(cora_lcc), dim=0)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-6)


def test_bad_head_settings_are_refused(cora_lcc):
    with pytest.raises(ValueError, match="head_width"):
        build_encoder("mlp", 8, num_nodes=cora_lcc.num_nodes, x=cora_lcc.x, head="ritz",
                      encoder_kwargs={"head_width": 4})
