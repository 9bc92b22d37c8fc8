import math

import encoders


def test_unseen_nodes_record_for_a_network_on_propagated_inputs():
    rec = encoders.unseen("Cora", 4, 1, "mlp_propagated", net_steps=25)
    assert rec["n_sub"] < rec["n"] == 2485 and 0 <= rec["depth"] <= 25  # steps run (0: the start met tol)
    for key in ("ours", "one_hop", "seen_shift"):
        assert 0.0 <= rec[key] <= 1.0 and math.isfinite(rec[key])


def test_solvers_with_inputs_are_networks():
    assert set(encoders.INPUTS) <= set(encoders.NETWORKS) <= set(encoders.SOLVERS)
    assert encoders.INPUTS["mlp_propagated"] == ("mlp", "propagated")


def test_solver_kwargs_give_each_solver_its_encoder_inputs_and_sampler():
    assert encoders.solver_kwargs("krylov", 100, batch_size=256) == {"encoder": "krylov"}
    assert encoders.solver_kwargs("sage", 100, 256, head="auto") == {
        "encoder": "sage", "max_steps": 100, "encoder_kwargs": {"head": "auto"}, "batch_size": 256,
        "sampler": "neighbor"}
    assert encoders.solver_kwargs("mlp_propagated", 100, head="ritz") == {
        "encoder": "mlp", "max_steps": 100, "encoder_kwargs": {"head": "ritz", "inputs": "propagated"}}
