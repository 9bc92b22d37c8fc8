"""benchmarks/pe_throughput.py: the Pareto verdict of the trained network against the random-probe ablation."""
import pe_throughput


def row(method, ratio, mean_sim, p10_sim=None):
    return dict(method=method, steps=int(method.split(":")[1]), ratio=ratio, mean_sim=mean_sim,
                p10_sim=mean_sim - 0.1 if p10_sim is None else p10_sim)


def test_network_ahead_when_it_dominates_every_ablation_setting():
    rows = [row("inductive:16", 10.0, 0.93), row("inductive:24", 9.0, 0.97),
            row("probes:16", 9.5, 0.85), row("probes:24", 9.0, 0.94)]
    assert pe_throughput.pareto_verdict(rows).startswith("the trained network is ahead")


def test_each_end_of_the_front_is_stated():
    # the ablation's fastest setting is faster than any inductive one: not dominated, so not "ahead"
    rows = [row("inductive:16", 9.12, 0.918), row("inductive:20", 11.6, 0.938), row("inductive:24", 9.2, 0.967),
            row("probes:16", 12.5, 0.833), row("probes:20", 10.4, 0.875), row("probes:24", 9.10, 0.942)]
    verdict = pe_throughput.pareto_verdict(rows)
    assert "not ahead everywhere" in verdict and "refine_steps=16 (12.5x, 0.833)" in verdict
    assert "inductive settings an ablation setting dominates" not in verdict
    # an inductive setting that the ablation dominates is named too
    rows.append(row("inductive:12", 8.0, 0.80))
    assert "inductive settings an ablation setting dominates: refine_steps=12" in pe_throughput.pareto_verdict(rows)
