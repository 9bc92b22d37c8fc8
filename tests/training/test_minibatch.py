"""Monte Carlo, float64: the mean of many mini-batch losses and gradients equals the full-batch value.

For each sampler and loss, N i.i.d. mini-batch estimates of the loss and of
its gradient (with respect to every parameter) are averaged; the difference
to the full-batch value must stay within a CLT bound of 5 standard errors
(the bound is for the largest of ~100 coordinates, so a correct estimator
fails it with probability < 1e-4). The single-batch plug-in of the Gram
matrix is shown to fail the same test: the two-independent-parts split is
what makes the estimates unbiased.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.utils import to_undirected

from pyg_spectral import exact_eigenpairs
from pyg_spectral.encoders import EmbeddingEncoder, GNNEncoder, MLPEncoder, RitzHead
from pyg_spectral.losses import build_loss
from pyg_spectral.operators import build_operator
from pyg_spectral.training.minibatch import MiniBatchObjective

N_DRAWS = 1000
Z_MAX = 5.0


@pytest.fixture(scope="module")
def weighted_karate(karate):
    gen = torch.Generator().manual_seed(0)
    ei = karate.edge_index
    keep = ei[0] < ei[1]
    upper = ei[:, keep]
    w = torch.rand(upper.size(1), generator=gen, dtype=torch.float64) + 0.5
    edge_index, edge_weight = to_undirected(upper, w)
    return edge_index, edge_weight, karate.num_nodes


def flat_grad(module):
    return torch.cat([p.grad.reshape(-1) for p in module.parameters() if p.grad is not None]).clone()


def full_batch(op, encoder, loss_fn, objective):
    encoder.zero_grad()
    f = objective.encode(torch.arange(op.num_nodes))
    with torch.no_grad():
        tf = op.matvec(f)
    loss = loss_fn(f, tf, weight=op.measure)
    loss.backward()
    return float(loss.detach()), flat_grad(encoder)


def monte_carlo(encoder, loss_fn, objective, split=True, draws=N_DRAWS):
    losses, grads = [], []
    for _ in range(draws):
        encoder.zero_grad()
        f, tf, w = objective.batch(torch.float64)
        loss = loss_fn(f, tf, weight=w, split=split)
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(flat_grad(encoder))
    return np.array(losses), torch.stack(grads).numpy()


def max_z(samples, target):
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    return float(np.max(np.abs(mean - target) / np.maximum(se, 1e-12 + 1e-9 * np.abs(target))))


def setup(graph, operator="laplacian", loss="nested_lora", loss_kwargs=None, sampler="node", encoder="embedding",
          batch_size=32, edge_mode="uniform", m=4, num_neighbors=None, seed=0):
    edge_index, edge_weight, n = graph
    op = build_operator(operator, edge_index, edge_weight, n, dtype=torch.float64)
    torch.manual_seed(seed)
    x = torch.randn(n, 3, dtype=torch.float64)
    if encoder == "embedding":
        # Start near the scaled top eigenfunctions, plus noise: there the
        # off-diagonal part of Tf carries half of the quadratic term, so a
        # wrong scaling constant shows (a 5% error gives z > 10; random
        # functions would hide it, their off-diagonal sums cancel).
        enc = EmbeddingEncoder(n, m, measure=op.measure.float(), seed=seed)
        _, vecs = exact_eigenpairs(op, m)
        rho = op.measure.unsqueeze(-1)
        f0 = torch.from_numpy(vecs) / (rho * torch.from_numpy(vecs) ** 2).sum(0).sqrt()
        f0 = f0 * torch.linspace(1.0, 0.5, m, dtype=torch.float64)
        enc.set_functions_(f0 + 0.1 * torch.randn(n, m, generator=torch.Generator().manual_seed(seed),
                                                  dtype=torch.float64))
    elif encoder == "mlp":
        enc = MLPEncoder(3, m, hidden_channels=8, num_layers=2)
    else:
        enc = GNNEncoder(3, m, gnn=encoder, hidden_channels=8, num_layers=2, random_features=2)
    enc = enc.double().train()
    loss_fn = build_loss(loss, m, **(loss_kwargs or {}))
    gen = torch.Generator().manual_seed(seed + 1)
    objective = MiniBatchObjective(op, enc, x, edge_index, batch_size, sampler=sampler, edge_mode=edge_mode,
                                   num_neighbors=num_neighbors, backend="torch", generator=gen)
    return op, enc, loss_fn, objective


CASES = [
    dict(loss="nested_lora", loss_kwargs={"nesting": "joint"}, sampler="node"),
    dict(loss="nested_lora", loss_kwargs={"nesting": "sequential"}, sampler="node"),
    dict(loss="nested_lora", loss_kwargs={"nesting": None}, sampler="node"),
    dict(loss="nested_omm", loss_kwargs={"order": "1"}, sampler="node"),
    dict(loss="nested_omm", loss_kwargs={"order": "2"}, sampler="node"),
    dict(loss="nested_omm", loss_kwargs={"order": "1+2", "nesting": "sequential"}, sampler="node"),
    dict(loss="nested_lora", sampler="edge", edge_mode="uniform"),
    dict(loss="nested_lora", sampler="edge", edge_mode="weighted"),
    dict(loss="nested_omm", loss_kwargs={"order": "1"}, sampler="edge", edge_mode="weighted"),
    dict(loss="nested_lora", operator="random_walk", sampler="node"),
    dict(loss="nested_lora", operator="random_walk", sampler="edge", edge_mode="weighted"),
    dict(loss="nested_lora", operator="lazy_adjacency", sampler="edge", edge_mode="uniform"),
    dict(loss="nested_lora", sampler="node", encoder="mlp"),
    # An L-layer GNN on full L-hop neighbourhoods (fan-out -1) is exact, so unbiased.
    dict(loss="nested_lora", sampler="neighbor", encoder="sage", num_neighbors=[-1, -1]),
]


def case_id(case):
    return "-".join(str(v) if not isinstance(v, dict) else "-".join(map(str, v.values())) for v in case.values())


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_minibatch_loss_and_gradient_are_unbiased(weighted_karate, case):
    draws = 400 if case.get("encoder") in ("sage",) else N_DRAWS
    op, enc, loss_fn, objective = setup(weighted_karate, **case)
    value, grad = full_batch(op, enc, loss_fn, objective)
    losses, grads = monte_carlo(enc, loss_fn, objective, draws=draws)
    assert max_z(losses[:, None], np.array([value])) <= Z_MAX
    assert max_z(grads, grad.numpy()) <= Z_MAX
    # The estimates are noisy (otherwise the test would be vacuous).
    assert losses.std() > 1e-3 * abs(value)


def test_single_batch_plugin_is_biased(weighted_karate):
    op, enc, loss_fn, objective = setup(weighted_karate, batch_size=8)  # a small batch: a large variance
    value, _ = full_batch(op, enc, loss_fn, objective)
    losses, _ = monte_carlo(enc, loss_fn, objective, split=False)
    # Same-batch Gram squares add Var(M_hat) > 0: the mean sits far above the full-batch value.
    se = losses.std(ddof=1) / np.sqrt(len(losses))
    assert (losses.mean() - value) / se > 10


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_detects_a_five_percent_scaling_error(weighted_karate, factor):
    # Sensitivity check of the test itself: a wrong edge-sampler constant fails it.
    op, enc, loss_fn, objective = setup(weighted_karate, sampler="edge", batch_size=32)
    objective.edges.coef = objective.edges.coef * factor
    value, grad = full_batch(op, enc, loss_fn, objective)
    losses, grads = monte_carlo(enc, loss_fn, objective)
    assert max(max_z(losses[:, None], np.array([value])), max_z(grads, grad.numpy())) > 2 * Z_MAX


def test_neighbor_sampled_gnn_runs_on_subgraphs(weighted_karate):
    op, enc, loss_fn, objective = setup(weighted_karate, sampler="neighbor", encoder="gcn", num_neighbors=[3, 2])
    f, tf, w = objective.batch(torch.float64)
    assert f.shape == (32, 4) and tf.shape == (32, 4) and torch.isfinite(f).all()
    loss = loss_fn(f, tf, weight=w, split=True)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


def ritz_setup(graph, moment_decay=0.0, batch_size=16, width=6, features=3):
    edge_index, edge_weight, n = graph
    op = build_operator("laplacian", edge_index, edge_weight, n, dtype=torch.float64)
    torch.manual_seed(0)
    x = torch.randn(n, features, dtype=torch.float64)
    enc = RitzHead(MLPEncoder(features, width, hidden_channels=8, num_layers=2), out_channels=3, width=width).double()
    objective = MiniBatchObjective(op, enc, x, edge_index, batch_size, generator=torch.Generator().manual_seed(1),
                                   moment_decay=moment_decay)
    h = enc.features(x).detach()
    hw = h * op.measure.unsqueeze(-1)
    return op, enc, objective, (hw.T @ h, hw.T @ op.matvec(h))


def test_ritz_head_batch_moments_are_unbiased(weighted_karate):
    """Each batch's trunk moments (gram, cross) average to the whole graph's: the head solved from their
    running average sees the exact moments up to noise and staleness only."""
    op, enc, objective, (gram, cross) = ritz_setup(weighted_karate)
    draws = []
    for _ in range(N_DRAWS):
        objective.batch(torch.float64)
        draws.append(torch.cat([objective._moments[0].reshape(-1), objective._moments[1].reshape(-1)]))
    draws = torch.stack(draws).numpy()
    target = torch.cat([gram.reshape(-1), cross.reshape(-1)]).numpy()
    assert max_z(draws, target) <= Z_MAX
    assert draws.std(0).max() > 1e-3  # the estimates are noisy (otherwise the test would be vacuous)


def test_ritz_head_exact_moments_stream_over_chunks(weighted_karate):
    op, enc, objective, (gram, cross) = ritz_setup(weighted_karate)
    got_gram, got_cross = objective.exact_moments(enc.trunk, chunk=5)
    assert torch.allclose(got_gram, gram, atol=1e-12) and torch.allclose(got_cross, cross, atol=1e-12)


def test_ritz_head_moment_average_is_bias_corrected(weighted_karate):
    """With decay beta the average after t steps is sum beta^(t-s) M_s / sum beta^(t-s): equal moments stay equal."""
    op, enc, objective, _ = ritz_setup(weighted_karate, moment_decay=0.9)
    objective.nodes.sample = lambda dtype=torch.float64: (torch.arange(34), torch.full((34,), 1 / 34,
                                                                                        dtype=dtype))
    objective.batch(torch.float64)
    first = objective._moments[0] / objective._moment_weight
    for _ in range(3):
        objective.batch(torch.float64)
    assert torch.allclose(objective._moments[0] / objective._moment_weight, first, atol=1e-12)


def test_ritz_head_step_descends_the_residual(weighted_karate):
    """The surrogate's gradient is minus the weighted residual at the rows: a small step along it lowers the
    Ritz residual of the whole graph's span (here, with the head at the exact moments; 34 input features, so
    the trunk can express any function on the 34 nodes)."""
    op, enc, objective, _ = ritz_setup(weighted_karate, batch_size=34, features=34)
    objective.nodes.sample = lambda dtype=torch.float64: (torch.arange(34), op.measure.to(dtype))

    def residual():
        with torch.no_grad():
            h = enc.features(objective.x)
            return _span_residual(h, op)

    before = residual()
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    for _ in range(100):
        opt.zero_grad()
        objective.loss(None, torch.float64).backward()
        opt.step()
    assert residual() < 0.5 * before


def _span_residual(h, op):
    from pyg_spectral.spectrum.ritz import rayleigh_ritz, ritz_residuals

    th = op.matvec(h)
    theta, coef = rayleigh_ritz(h, th, op.measure)
    return float(ritz_residuals(h, th, theta[:3], coef[:, :3]).max())


def test_ritz_head_refuses_edge_batches_and_bad_decay(weighted_karate):
    edge_index, edge_weight, n = weighted_karate
    op = build_operator("laplacian", edge_index, edge_weight, n, dtype=torch.float64)
    enc = RitzHead(MLPEncoder(3, 6, hidden_channels=8, num_layers=2), out_channels=3, width=6)
    x = torch.randn(n, 3)
    with pytest.raises(ValueError, match="sampler='node' or 'neighbor'"):
        MiniBatchObjective(op, enc, x, edge_index, 16, sampler="edge")
    with pytest.raises(ValueError, match="moment_decay"):
        MiniBatchObjective(op, enc, x, edge_index, 16, moment_decay=1.0)
    for bad in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match="moment_rcond"):
            MiniBatchObjective(op, enc, x, edge_index, 16, moment_rcond=bad)


def test_ritz_head_step_solve_drops_directions_below_moment_rcond(weighted_karate):
    """A trunk column that nearly duplicates another leaves a Gram eigenvalue far below the largest: the step's
    head (cut at moment_rcond) leaves it out, the exact solve (cut at 1e-7) keeps it."""
    op, enc, objective, _ = ritz_setup(weighted_karate, batch_size=34, width=6)
    from pyg_spectral.spectrum.ritz import ritz_from_moments

    gen = torch.Generator().manual_seed(0)
    h = torch.randn(34, 6, dtype=torch.float64, generator=gen)
    h[:, 5] = h[:, 4] + 3e-3 * torch.randn(34, dtype=torch.float64, generator=gen)
    hw = h * op.measure.unsqueeze(-1)
    gram, cross = hw.T @ h, hw.T @ op.matvec(h)
    s = torch.linalg.eigvalsh(gram)
    assert 1e-7 < float(s[0] / s[-1]) < objective.moment_rcond  # between the two cuts
    assert ritz_from_moments(gram, cross, objective.moment_rcond)[0].numel() == 5
    assert ritz_from_moments(gram, cross, 1e-7)[0].numel() == 6
    # the head solve takes the cut it is given
    step = enc.solve_moments_(gram, cross, rcond=objective.moment_rcond)
    exact = enc.solve_moments_(gram, cross)
    assert not torch.allclose(step, exact)


def test_ritz_head_moments_round_trip_and_bad_state_is_refused(weighted_karate):
    op, enc, objective, _ = ritz_setup(weighted_karate, moment_decay=0.5)
    objective.batch(torch.float64)
    objective.batch(torch.float64)
    state = objective.state_dict()
    other = ritz_setup(weighted_karate, moment_decay=0.5)[2]
    other.load_state_dict(state)
    assert torch.equal(other._moments[0], objective._moments[0]) and other._moment_weight == objective._moment_weight
    with pytest.raises(ValueError, match="do not fit a head of width 6"):
        other.load_state_dict({"gram": torch.zeros(4, 4), "cross": torch.zeros(4, 4), "weight": torch.tensor(1.0)})
    with pytest.raises(TypeError, match="must hold tensors"):
        other.load_state_dict({"gram": [[0.0]], "cross": torch.zeros(6, 6), "weight": torch.tensor(1.0)})


def test_correlation_penalty_is_zero_for_uncorrelated_columns_and_spreads_collinear_ones():
    from pyg_spectral.training.minibatch import correlation_penalty

    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(64, 5, dtype=torch.float64, generator=gen))
    weight = torch.full((64,), 1 / 64, dtype=torch.float64)
    assert float(correlation_penalty(q * 8, weight)) < 1e-24
    assert float(correlation_penalty(q * torch.arange(1.0, 6.0, dtype=torch.float64), weight)) < 1e-24  # scale-free
    h = q.clone()
    h[:, 4] = h[:, 3] + 1e-2 * q[:, 4]  # nearly collinear pair: correlation ~1
    h.requires_grad_(True)
    penalty = correlation_penalty(h, weight)
    assert 0.39 < float(penalty.detach()) < 0.41  # two off-diagonal entries ~1, over d = 5
    penalty.backward()
    with torch.no_grad():
        assert float(correlation_penalty(h - 1e-2 * h.grad, weight)) < float(penalty.detach())


def test_trunk_decorrelation_keeps_the_trunk_well_conditioned(weighted_karate):
    """Training on the Ritz residual alone lets the trunk's columns drift together (the head uses only its
    span); the penalty keeps the same steps' trunk far better conditioned."""
    def trunk_condition(decorrelation):
        op, enc, _, _ = ritz_setup(weighted_karate, batch_size=16, width=6)
        x = torch.randn(op.num_nodes, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        objective = MiniBatchObjective(op, enc, x, weighted_karate[0], 16, generator=torch.Generator().manual_seed(1),
                                       trunk_decorrelation=decorrelation)
        opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
        for _ in range(300):
            opt.zero_grad()
            objective.loss(None, torch.float64).backward()
            opt.step()
        with torch.no_grad():
            h = enc.features(objective.x)
            s = torch.linalg.eigvalsh((h * op.measure.unsqueeze(-1)).T @ h)
        return float(s[-1] / s[0])

    assert trunk_condition(0.1) < 0.1 * trunk_condition(0.0)


def test_trunk_decorrelation_must_be_non_negative(weighted_karate):
    op, enc, _, _ = ritz_setup(weighted_karate)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="trunk_decorrelation"):
            MiniBatchObjective(op, enc, torch.randn(op.num_nodes, 3), weighted_karate[0], 16, trunk_decorrelation=bad)
