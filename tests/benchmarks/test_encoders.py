import math

import encoders


def test_unseen_nodes_record_for_a_network_on_propagated_inputs():
    rec = encoders.unseen("Cora", 4, 1, "mlp_propagated", net_steps=25)
    assert rec["n_sub"] < rec["n"] == 2485 and rec["depth"] == 25
    for key in ("ours", "one_hop", "seen_shift"):
        assert 0.0 <= rec[key] <= 1.0 and math.isfinite(rec[key])


def test_solvers_with_inputs_are_networks():
    assert set(encoders.INPUTS) <= set(encoders.NETWORKS) <= set(encoders.SOLVERS)
    assert encoders.INPUTS["mlp_propagated"] == ("mlp", "propagated")
