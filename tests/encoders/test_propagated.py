import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import cycle_graph, grid_graph
from pyg_spectral.encoders import PropagatedInputs, hashed_normal
from pyg_spectral.exceptions import ConvergenceWarning
from pyg_spectral.metrics import eigenvalue_error, subspace_distance


def _lazy_adjacency(edge_index, n):
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1.0
    d = a.sum(1).rsqrt()
    return 0.5 * (torch.eye(n, dtype=torch.float64) + d[:, None] * a * d[None, :])


def test_blocks_are_powers_of_the_lazy_adjacency_on_the_noise():
    data = grid_graph(4, 5)
    n = data.num_nodes
    inputs = PropagatedInputs(0, hops=(1, 3), random_channels=4, log_degree=False, whiten=False, dtype=torch.float64)
    phi = inputs(None, data.edge_index, num_nodes=n)
    s, z = _lazy_adjacency(data.edge_index, n), hashed_normal(torch.arange(n), 4, dtype=torch.float64)
    expected = torch.cat([s @ z, torch.linalg.matrix_power(s, 3) @ z], dim=1)
    assert torch.allclose(phi, expected * inputs.scale, atol=1e-12)
    assert torch.allclose(phi.norm(dim=0), torch.full((8,), n ** 0.5, dtype=torch.float64))  # unit RMS columns


def test_whitened_columns_are_an_orthonormal_basis_of_the_same_span_kept_for_new_graphs():
    data = grid_graph(6, 7)
    n = data.num_nodes
    raw = PropagatedInputs(0, hops=(1, 4, 16), random_channels=8, log_degree=False, whiten=False,
                           dtype=torch.float64)(None, data.edge_index, num_nodes=n)
    inputs = PropagatedInputs(0, hops=(1, 4, 16), random_channels=8, log_degree=False, dtype=torch.float64)
    phi = inputs(None, data.edge_index, num_nodes=n)
    assert phi.shape == (n, inputs.num_features_out) and inputs.num_features_out <= 24
    assert torch.allclose(phi.T @ phi / n, torch.eye(phi.size(1), dtype=torch.float64), atol=1e-8)
    # the same span: the raw columns are combinations of the whitened ones (up to the dropped directions)
    coef = torch.linalg.lstsq(phi, raw).solution
    assert ((phi @ coef - raw).norm(dim=0) / raw.norm(dim=0)).max() <= 1e-5
    # a new graph gets the fitted linear map, not its own: the inputs of a relabelled graph are the rows permuted
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    again = inputs(None, inverse[data.edge_index], num_nodes=n, n_id=perm)
    assert torch.allclose(again, phi[perm], atol=1e-9)
    with pytest.raises(ValueError, match="rcond must be in"):
        PropagatedInputs(0, rcond=0.0)


def test_whitening_lets_float32_inputs_hold_what_their_span_holds(facebook):
    """The hops lean towards the same leading eigenvectors (ego-Facebook's columns: condition number ~1e16): in
    float32 Rayleigh–Ritz on the raw columns leaves max residual 1.2e-3 at k = 16, on the whitened ones 7.0e-6
    (measured)."""
    from pyg_spectral.operators import build_operator
    from pyg_spectral.spectrum.ritz import rayleigh_ritz, ritz_residuals

    n = facebook.num_nodes
    op = build_operator("laplacian", facebook.edge_index, num_nodes=n, dtype=torch.float64)
    res = {}
    for whiten in (True, False):
        phi = PropagatedInputs(0, whiten=whiten)(None, facebook.edge_index, num_nodes=n).double()  # float32 values
        tphi = op.matvec(phi)
        theta, c = rayleigh_ritz(phi, tphi)
        res[whiten] = float(ritz_residuals(phi, tphi, theta[:16], c[:, :16]).max() / abs(op.scale))
    assert res[True] <= 5e-5 and res[False] >= 5e-4


def test_span_holds_the_eigenvectors_of_a_real_graph(cora_lcc):
    """Rayleigh–Ritz on the default inputs of Cora's LCC without features recovers its 16 leading eigenvectors."""
    n = cora_lcc.num_nodes
    lam, vec = exact_eigenpairs(cora_lcc, 16)
    phi = PropagatedInputs(0)(None, cora_lcc.edge_index, num_nodes=n).double()
    q, r = torch.linalg.qr(phi)
    q = q[:, r.diagonal().abs() > 1e-8 * r.diagonal().abs().max()]
    lap = torch.eye(n, dtype=torch.float64) - (2 * _lazy_adjacency(cora_lcc.edge_index, n) - torch.eye(n))
    theta, c = torch.linalg.eigh(q.T @ lap @ q)
    assert eigenvalue_error(theta[:16], lam).max() <= 1e-6
    assert subspace_distance(q @ c[:, :16], vec) <= 1e-4


def test_rows_follow_the_node_ids_not_the_positions():
    data = cycle_graph(9)
    inputs = PropagatedInputs(0, hops=(1, 2, 4), random_channels=3)
    phi = inputs(None, data.edge_index, num_nodes=9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(9)
    relabelled = inverse[data.edge_index]  # node perm[i] of the old graph is node i of the new one
    again = inputs(None, relabelled, num_nodes=9, n_id=perm)
    assert torch.allclose(again, phi[perm], atol=1e-6)


def test_features_are_kept_and_propagated():
    data = grid_graph(3, 4)
    x = torch.randn(12, 5)
    inputs = PropagatedInputs(5, hops=(2,), whiten=False)
    assert (inputs.random_channels, inputs.feature_channels, inputs.num_features_out) == (0, 5, 11)
    phi = inputs(x, data.edge_index)
    assert phi.shape == (12, 11)
    assert torch.allclose(phi[:, :5] / inputs.scale[:5].float(), x, atol=1e-5)  # raw features first


def test_bad_input_is_a_clear_error():
    data = cycle_graph(6)
    with pytest.raises(ValueError, match="hops must be increasing"):
        PropagatedInputs(0, hops=(4, 2))
    with pytest.raises(ValueError, match="hops must be increasing"):
        PropagatedInputs(0, hops=(0, 1))
    with pytest.raises(ValueError, match="random_channels > 0 or node features"):
        PropagatedInputs(0, random_channels=0)
    with pytest.raises(ValueError, match="needs num_nodes"):
        PropagatedInputs(0)(None, data.edge_index)
    with pytest.raises(ValueError, match="expects 3 node features"):
        PropagatedInputs(3)(torch.randn(6, 4), data.edge_index)
    with pytest.raises(ValueError, match="built for 3 node features, but x is None"):
        PropagatedInputs(3)(None, data.edge_index, num_nodes=6)


def test_an_mlp_without_features_learns_the_eigenpairs(no_warnings):
    data = grid_graph(12, 16)
    lam, vec = exact_eigenpairs(data, 8)
    est = NeuralSpectralEmbedding(8, encoder="mlp", encoder_kwargs={"inputs": "propagated"}, progress=False,
                                  max_steps=500).fit(data)
    assert isinstance(est.inputs_, PropagatedInputs) and est.converged_
    assert eigenvalue_error(est.eigenvalues_, lam).max() <= 1e-4
    assert subspace_distance(est.embedding_, vec) <= 1e-3
    # transform recomputes the inputs on the graph, with the fitted scales: the same graph gives the same result
    assert np.allclose(est.transform(data).numpy(), est.embedding_.numpy(), atol=1e-5)


def test_mini_batches_on_propagated_inputs_start_at_the_answer_and_train_no_step(no_warnings):
    """The Ritz start on the whitened inputs is evaluated exactly (moments streamed over node chunks) before the
    first mini-batch step: here it meets tol, so no step is run, with the start kept or not (before that check,
    1500 steps ran; without the kept start they ended at 4.1e-4 with a ConvergenceWarning)."""
    data = grid_graph(12, 16)
    _, vec = exact_eigenpairs(data, 4)
    for keep in (True, False):
        est = NeuralSpectralEmbedding(4, encoder="mlp", encoder_kwargs={"inputs": "propagated", "keep_start": keep},
                                      batch_size=64, sampler="node", max_steps=1500, progress=False).fit(data)
        assert est.converged_ and est.n_iter_ == 0 and subspace_distance(est.embedding_, vec) <= 1e-6


def test_inputs_option_is_checked():
    data = cycle_graph(20)
    with pytest.raises(ValueError, match="builds the inputs of a network: use encoder='mlp' or a GNN"):
        NeuralSpectralEmbedding(2, encoder="embedding", encoder_kwargs={"inputs": "propagated"},
                                progress=False).fit(data)
    with pytest.raises(ValueError, match="'features', 'propagated' or a module"):
        NeuralSpectralEmbedding(2, encoder="mlp", encoder_kwargs={"inputs": "sign"}, progress=False).fit(data)


def test_a_module_given_as_inputs_is_used(no_warnings):
    data = grid_graph(6, 7)
    inputs = PropagatedInputs(0, hops=(1, 4, 16), random_channels=16)
    est = NeuralSpectralEmbedding(3, encoder="mlp", encoder_kwargs={"inputs": inputs}, progress=False,
                                  max_steps=50).fit(data)
    assert est.inputs_ is inputs and est.encoder_.trunk.mlp.in_channels == inputs.num_features_out
    # the Ritz start on the inputs already meets tol (measured max residual 1.8e-7): no step is run
    assert est.n_iter_ == 0 and est.history_[0]["step"] == 0
    assert float(est.residuals_.max()) <= est.tol and est.converged_


def test_a_directed_graph_is_symmetrized_for_the_inputs_as_for_the_operator():
    data = grid_graph(6, 8)
    lam, vec = exact_eigenpairs(data, 4)
    one_way = data.clone()
    one_way.edge_index = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
    est = NeuralSpectralEmbedding(4, encoder="mlp", encoder_kwargs={"inputs": "propagated"}, symmetrize=True,
                                  progress=False, max_steps=300).fit(one_way)
    assert eigenvalue_error(est.eigenvalues_, lam).max() <= 1e-4 and subspace_distance(est.embedding_, vec) <= 1e-3
    assert np.allclose(est.transform(one_way).numpy(), est.embedding_.numpy(), atol=1e-5)


@pytest.mark.slow
def test_an_mlp_that_stalls_on_its_features_is_pointed_here_and_that_advice_works():
    data = grid_graph(12, 12)
    data.x = torch.randn(data.num_nodes, 2, generator=torch.Generator().manual_seed(0))  # too little to express
    lam, vec = exact_eigenpairs(data, 4)
    with pytest.warns(ConvergenceWarning, match=r"stopped falling.*encoder_kwargs=\{'inputs': 'propagated'\}"):
        NeuralSpectralEmbedding(4, encoder="mlp", progress=False, max_steps=3000).fit(data)
    est = NeuralSpectralEmbedding(4, encoder="mlp", encoder_kwargs={"inputs": "propagated"}, progress=False,
                                  max_steps=3000).fit(data)
    assert est.converged_
    assert eigenvalue_error(est.eigenvalues_, lam).max() <= 1e-5 and subspace_distance(est.embedding_, vec) <= 1e-5


def test_the_network_starts_at_the_rayleigh_ritz_solution_on_its_inputs(cora_lcc, no_warnings):
    """On propagated inputs the MLP has a linear skip started at the inputs' Rayleigh–Ritz solution, and the
    start is evaluated before any step: on Cora's LCC without features it already meets tol (measured: subspace
    distance 6.3e-10 to the 16 leading eigenvectors, max residual 2.0e-5), so no step is run. Without the skip
    25 steps leave it at 0.75 (measured)."""
    _, vec = exact_eigenpairs(cora_lcc, 16)
    data = Data(edge_index=cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes)  # structure only
    est = NeuralSpectralEmbedding(16, encoder="mlp", encoder_kwargs={"inputs": "propagated"}, progress=False,
                                  max_steps=25).fit(data)
    assert est.encoder_.trunk.skip is not None and est.converged_ and est.n_iter_ == 0
    assert subspace_distance(est.embedding_, vec) <= 1e-6
    est = NeuralSpectralEmbedding(16, encoder="mlp", encoder_kwargs={"inputs": "propagated", "skip": False},
                                  progress=False, max_steps=25)
    with pytest.warns(ConvergenceWarning):
        est.fit(data)
    assert est.encoder_.trunk.skip is None and est.n_iter_ == 25
    assert subspace_distance(est.embedding_, vec) >= 1e-2


def test_mini_batch_training_starts_at_the_rayleigh_ritz_solution_too(cora_lcc, no_warnings):
    """With mini-batches the Ritz start's moments are summed over node chunks (memory of a chunk, not of the
    graph) and give the same start: after one step of 256 nodes, Cora's 16 leading eigenvectors to 6.2e-10
    (measured; the start kept in the head's basis, the default), converged; without the skip 0.91."""
    _, vec = exact_eigenpairs(cora_lcc, 16)
    data = Data(edge_index=cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes)
    est = NeuralSpectralEmbedding(16, encoder="mlp", encoder_kwargs={"inputs": "propagated"},
                                  progress=False, max_steps=1, batch_size=256).fit(data)
    assert est.converged_ and subspace_distance(est.embedding_, vec) <= 1e-6
    est = NeuralSpectralEmbedding(16, encoder="mlp", encoder_kwargs={"inputs": "propagated", "skip": False},
                                  progress=False, max_steps=1, batch_size=256)
    with pytest.warns(ConvergenceWarning):
        assert subspace_distance(est.fit(data).embedding_, vec) >= 0.1


@pytest.mark.parametrize("gnn", ["sage", "gcn"])
def test_a_gnn_on_propagated_inputs_starts_at_the_rayleigh_ritz_solution_on_neighbor_batches(cora_lcc, gnn,
                                                                                             no_warnings):
    """A GNN reads the propagated inputs too, with the same Ritz start (kept in the head's basis, the mini-batch
    default): on neighbor-sampled batches of 256 nodes, one step, Cora's LCC without features, 16 leading
    eigenvectors to 6.1e-10 (SAGE) and 5.4e-10 (GCN), converged (measured); the GNN on id-keyed noise alone:
    0.90 and 0.83."""
    _, vec = exact_eigenpairs(cora_lcc, 16)
    data = Data(edge_index=cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes)
    est = NeuralSpectralEmbedding(16, encoder=gnn, encoder_kwargs={"inputs": "propagated"}, progress=False,
                                  max_steps=1, batch_size=256, sampler="neighbor").fit(data)
    assert est.converged_ and subspace_distance(est.embedding_, vec) <= 1e-6
    est = NeuralSpectralEmbedding(16, encoder=gnn, progress=False, max_steps=1, batch_size=256, sampler="neighbor")
    with pytest.warns(ConvergenceWarning):
        assert subspace_distance(est.fit(data).embedding_, vec) >= 0.1
    assert est.encoder_.trunk.skip is None  # on data.x (absent here: noise), no skip


def test_the_kept_start_holds_mini_batch_training_at_its_start(cora_lcc):
    """``keep_start`` (the default with mini-batches): the Ritz start's functions stay in the basis the head solves
    over, so the final Ritz values are never below the start's (Courant–Fischer: a span that holds the start's),
    and the mini-batch noise does not move the fit off it. Cora's LCC, structure only, MLP, ``B = 256``, 25 steps
    forced by an unreachable ``tol`` (the start meets the default one): kept, at the start (measured
    3.6e-11); not kept, moved off it (measured 5.2e-2)."""
    from pyg_spectral.operators import NormalizedAdjacency
    from pyg_spectral.spectrum.ritz import rayleigh_ritz

    _, vec = exact_eigenpairs(cora_lcc, 16)
    data = Data(edge_index=cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes)
    fits = {}
    for keep in (True, False):
        est = NeuralSpectralEmbedding(16, encoder="mlp", encoder_kwargs={"inputs": "propagated", "keep_start": keep},
                                      progress=False, max_steps=25, batch_size=256, tol=1e-12)
        with pytest.warns(ConvergenceWarning, match="max_steps=25"):
            fits[keep] = est.fit(data)
        assert fits[keep].n_iter_ == 25
    assert subspace_distance(fits[True].embedding_, vec) <= 1e-6
    assert subspace_distance(fits[False].embedding_, vec) >= 1e-3
    # the start: Rayleigh–Ritz of the normalized adjacency on the inputs' span (L_sym's eigenvalues are 1 - theta)
    op = NormalizedAdjacency.from_edge_index(cora_lcc.edge_index, dtype=torch.float64)
    phi = PropagatedInputs(0, seed=0)(None, cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes).double()
    theta = rayleigh_ritz(phi, op.matvec(phi), op.measure)[0][:16].numpy()
    assert (fits[True].eigenvalues_.double().numpy() <= 1 - theta + 1e-6).all()


def test_keep_start_needs_a_solved_head(cora_lcc):
    data = Data(edge_index=cora_lcc.edge_index, num_nodes=cora_lcc.num_nodes)
    est = NeuralSpectralEmbedding(4, encoder="mlp", progress=False, max_steps=1, batch_size=256,
                                  encoder_kwargs={"inputs": "propagated", "head": "linear", "keep_start": True})
    with pytest.raises(ValueError, match="keep_start.*needs encoder_kwargs\\['head'\\]='ritz'"):
        est.fit(data)
    est = NeuralSpectralEmbedding(4, encoder="sage", progress=False, max_steps=1, batch_size=256,
                                  sampler="neighbor", encoder_kwargs={"keep_start": True})  # no skip: nothing to keep
    with pytest.raises(ValueError, match="keep_start.*needs an MLP or a GNN with encoder_kwargs\\['skip'\\]=True"):
        est.fit(data)
