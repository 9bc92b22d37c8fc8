"""The scale benchmark's fair harness: order of the runs, what reaches the workers, the report.

Most tests replace the worker by a stand-in script (no torch import: a run costs ~0.1 s) whose timings are
chosen so that the best settings and ratios are known; one slow test runs the real workers on a tiny graph.
"""
import json
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

import _timing
import scale

# A stand-in for `scale.py --worker`: logs its argv and thread variables, then reports a timed region.
# Wall seconds: eigsh 1 s at one thread, 2 s at two; every other solver 1 s at one, 0.5 s at two.
FAKE_WORKER = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {bench!r})
    import _timing
    argv = sys.argv[1:]
    solver, graph, n = argv[argv.index("--worker") + 1:argv.index("--worker") + 4]
    threads = int(argv[argv.index("--threads") + 1])
    with open({log!r}, "a") as f:
        f.write(json.dumps(dict(solver=solver, graph=graph, threads=threads, argv=argv,
                                omp=os.environ["OMP_NUM_THREADS"], blas=os.environ["OPENBLAS_NUM_THREADS"])) + "\\n")
    if solver == "krylov":
        sys.exit("boom")
    if solver == "lobpcg" and "--timing-only" in argv:
        raise MemoryError
    if solver == "scipy_lobpcg":
        time.sleep(30)
    extra = dict(n=int(n) - 10, peak_mb=10.0 * threads, steps=7, converged=True)
    if "--reference-cache" in argv:
        extra.update(max_residual=1e-4, subspace_distance=2e-3, max_eig_error=1e-5)
    wall = (1.0 * threads) if solver == "eigsh" else 1.0 / threads
    _timing.emit(wall, wall * threads, **extra)
""")


@pytest.fixture
def fake_worker(tmp_path, monkeypatch):
    """Route the benchmark's runs to :data:`FAKE_WORKER`; returns a function reading its log of calls."""
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER.format(bench=os.path.dirname(_timing.__file__), log=str(log)))
    real = scale.worker_command
    # the real argv (every forwarded option) behind the stand-in script
    monkeypatch.setattr(scale, "worker_command",
                        lambda *a: [sys.executable, str(script)] + real(*a)[2:])
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def run_main(args, tmp_path, capsys):
    out = tmp_path / "scale.md"
    assert scale.main([*args, "--output", str(out)]) == 0
    log = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return out.read_text(), log


def table_rows(report, first_cell="sbm", columns=len(scale.RUN_HEADER)):
    """Cells of the report's table rows that start with ``first_cell`` and have ``columns`` cells."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in report.splitlines()
            if line.startswith(f"| {first_cell} |")]
    return [r for r in rows if len(r) == columns]


def test_runs_interleave_solvers_and_threads_over_passes(fake_worker, tmp_path, capsys):
    run_main(["--graphs", "sbm", "rgg", "--sizes", "100", "--solvers", "eigsh", "neural_full",
              "--threads", "1", "2", "--passes", "2"], tmp_path, capsys)
    calls = fake_worker()
    one_graph = [("eigsh", 1), ("eigsh", 2), ("neural_full", 1), ("neural_full", 2)] * 2
    assert [(c["solver"], c["threads"]) for c in calls] == one_graph * 2
    assert [c["graph"] for c in calls] == ["sbm"] * 8 + ["rgg"] * 8
    # the thread count reaches torch (argv) and OpenMP/BLAS (environment) alike
    assert all(c["omp"] == c["blas"] == str(c["threads"]) for c in calls)
    assert all(c["argv"].count("--threads") == 1 for c in calls)


def test_reference_is_shared_by_the_first_pass_only(fake_worker, tmp_path, capsys):
    run_main(["--graphs", "sbm", "rgg", "--sizes", "100", "--solvers", "eigsh", "neural_full",
              "--passes", "3"], tmp_path, capsys)
    calls = fake_worker()
    caches = {}
    for i, c in enumerate(calls):
        first_pass = (i % 12) < 4  # per graph: 2 solvers x 2 threads x 3 passes
        assert ("--reference-cache" in c["argv"]) == first_pass
        assert ("--timing-only" in c["argv"]) == (not first_pass)
        if first_pass:
            caches.setdefault(c["graph"], set()).add(c["argv"][c["argv"].index("--reference-cache") + 1])
    # one cache per graph, shared by all of that graph's first-pass runs
    assert [len(paths) for paths in caches.values()] == [1, 1] and caches["sbm"] != caches["rgg"]


def test_report_rows_best_markers_and_ratios(fake_worker, tmp_path, capsys):
    report, log = run_main(["--graphs", "sbm", "--sizes", "100", "--solvers", "eigsh", "neural_full",
                            "--threads", "1", "2", "--passes", "2"], tmp_path, capsys)
    assert len(log) == 8 and all(r["threads"] in (1, 2) and "load_1min" in r for r in log)
    runs = table_rows(report)
    assert [(r[2], r[3]) for r in runs] == [("eigsh", "1 (best)"), ("eigsh", "2"), ("neural_full", "1"),
                                            ("neural_full", "2 (best)")]
    header = next(line for line in report.splitlines() if line.startswith("| graph | n | solver |"))
    assert "wall s (median)" in header and "CPU s (median)" in header and "load at start" in header
    eigsh1 = runs[0]
    assert eigsh1[1] == "90" and eigsh1[4] == "2/2"  # n: the solved graph's (the worker's) node count
    assert eigsh1[5:9] == ["1.00", "1.00-1.00", "1.00", "10"]  # wall, range, CPU, peak MB
    assert eigsh1[11] == "2.0e-03"  # accuracy from the first pass
    # neural_full at its best (2 threads: 0.5 s, 20 MB) over eigsh at its best (1 thread: 1 s, 10 MB)
    best = {r[0]: r for s in ("eigsh", "neural_full") for r in table_rows(report, s, len(scale.BEST_HEADER))}
    assert best["eigsh"][1] == "1" and best["eigsh"][5:] == ["1.00x", "1.00x"]
    assert best["neural_full"][1] == "2" and best["neural_full"][5:] == ["0.50x", "2.00x"]
    assert "### sbm, n = 90" in report
    command = re.search(r"Reproduce: `(.*?)`", report).group(1)
    assert command.startswith(".venv/bin/python benchmarks/scale.py --graphs sbm --sizes 100 ")
    assert "--passes 2 --output" in command
    assert (tmp_path / "scale.png").exists()


def test_failures_and_timeouts_give_rows_and_spare_later_passes(fake_worker, tmp_path, capsys):
    report, log = run_main(["--graphs", "sbm", "--sizes", "100", "--solvers", "krylov", "scipy_lobpcg", "lobpcg",
                            "eigsh", "--threads", "1", "2", "--passes", "2", "--timeout", "1"], tmp_path, capsys)
    runs = {(r[2], r[3]): r for r in table_rows(report)}
    assert runs["krylov", "1"][4:6] == ["0/2", "exited 1: boom"]
    assert runs["scipy_lobpcg", "2"][4:6] == ["0/2", "timeout after 1 s"]
    # failed in pass 2 only: the first pass's medians, and a note
    assert runs["lobpcg", "1"][4] == "1/2" and runs["lobpcg", "1"][3] == "1"
    assert "lobpcg at 1 thread(s), pass 2: exited 1: MemoryError" in report
    assert runs["eigsh", "1 (best)"][4] == "2/2"  # the other solvers ran to the end
    calls = [(c["solver"], c["threads"]) for c in fake_worker()]
    assert calls.count(("krylov", 1)) == calls.count(("scipy_lobpcg", 2)) == 1  # not retried
    assert calls.count(("lobpcg", 2)) == 2 and calls.count(("eigsh", 2)) == 2
    assert sum("error" in r for r in log) == 6


def test_every_worker_option_is_forwarded():
    parser = scale.build_parser()
    given = ["--lobpcg-iters", "11", "--full-steps", "12", "--minibatch-steps", "13", "--sign-steps", "14",
             "--ritz-start-steps", "16",
             "--reference-max", "15"]
    args = parser.parse_args(given + ["--threads", "1", "2"])
    command = scale.worker_command("neural_minibatch_sign", "sbm", 100, args)
    assert Path(command[1]) == Path(scale.__file__).resolve() and command[2:6] == ["--worker", "neural_minibatch_sign", "sbm", "100"]
    received = parser.parse_args(command[2:] + ["--threads", "2"])
    for dest in scale.WORKER_OPTIONS:
        assert getattr(received, dest) == getattr(args, dest) != parser.get_default(dest), dest
    assert {d.replace("_", "-") for d in scale.WORKER_OPTIONS} == {g[2:] for g in given[::2]}


def test_existing_command_lines_still_parse():
    parser = scale.build_parser()
    args = parser.parse_args("--graphs sbm --sizes 1000000 --solvers eigsh neural_minibatch_ritz "
                             "neural_minibatch_sign --threads 1 --timeout 1200 --output x.md".split())
    assert args.threads == [1] and args.passes == 3 and args.solvers[1] == "neural_minibatch_ritz"
    args = parser.parse_args("--sizes 2000000 --graphs sbm --reference-max 2000000 --big 10 --lobpcg-iters 5 "
                             "--full-steps 6 --minibatch-steps 7 --sign-steps 8 --malloc-mmap-threshold 0".split())
    assert (args.reference_max, args.big, args.malloc_mmap_threshold, args.threads) == (2000000, 10, 0, [1, 2])
    assert set(scale.SOLVERS) >= {"eigsh", "lobpcg", "scipy_lobpcg", "neural_full", "krylov", "neural_minibatch",
                                  "neural_minibatch_sign", "neural_minibatch_ritz", "neural_minibatch_ritz_start"}
    with pytest.raises(SystemExit):
        scale.main(["--worker", "eigsh", "sbm", "100", "--threads", "1", "2"])  # a worker runs at one setting


def test_worker_trains_sign_steps(capsys):
    import torch

    before = torch.get_num_threads()
    try:
        scale.main(["--worker", "neural_minibatch_sign", "sbm", "1500", "--threads", "1", "--minibatch-steps", "5",
                    "--sign-steps", "3", "--timing-only"])
    finally:
        torch.set_num_threads(before)
    record = _timing.parse_timing(capsys.readouterr().out)
    assert record["steps"] == 3 and record["wall_s"] > 0 and record["cpu_s"] > 0 and record["peak_mb"] >= 0
    assert "subspace_distance" not in record  # timing only


def test_worker_runs_the_ritz_started_mini_batch_solver(capsys):
    """neural_minibatch_ritz_start runs --ritz-start-steps steps, and its start already holds the planted blocks'
    eigenvectors (n = 1500, 2 steps: measured 3.7e-3; neural_minibatch_ritz without the start 4.3e-2)."""
    import torch

    before = torch.get_num_threads()
    records = {}
    try:
        for solver in ("neural_minibatch_ritz_start", "neural_minibatch_ritz"):
            scale.main(["--worker", solver, "sbm", "1500", "--threads", "1", "--ritz-start-steps", "2",
                        "--sign-steps", "2"])
            records[solver] = _timing.parse_timing(capsys.readouterr().out)
    finally:
        torch.set_num_threads(before)
    assert records["neural_minibatch_ritz_start"]["steps"] == 2
    assert records["neural_minibatch_ritz_start"]["subspace_distance"] <= 1e-2
    assert records["neural_minibatch_ritz"]["subspace_distance"] >= 2e-2


def test_reference_is_computed_once_then_loaded(tmp_path, monkeypatch):
    import numpy as np

    import pyg_spectral

    calls = []
    exact = pyg_spectral.exact_eigenpairs
    monkeypatch.setattr(pyg_spectral, "exact_eigenpairs", lambda *a, **kw: calls.append(1) or exact(*a, **kw))
    data = scale.build_graph("sbm", 300)
    cache = str(tmp_path / "reference.npz")
    v1, u1, how1 = scale.reference_eigenpairs(data, cache)
    v2, u2, how2 = scale.reference_eigenpairs(data, cache)
    assert (how1, how2) == ("computed", "cache") and len(calls) == 1
    assert v1.shape == (scale.K + 1,) and u1.shape == (data.num_nodes, scale.K + 1)
    np.testing.assert_array_equal(u1, u2)
    assert os.listdir(tmp_path) == ["reference.npz"]  # no partial file left


def test_eigsh_run_saves_its_own_pairs_as_the_reference(tmp_path, monkeypatch):
    import numpy as np

    import pyg_spectral

    calls = []
    exact = pyg_spectral.exact_eigenpairs
    monkeypatch.setattr(pyg_spectral, "exact_eigenpairs", lambda *a, **kw: calls.append(1) or exact(*a, **kw))
    data = scale.build_graph("sbm", 300)
    solved = exact(data, scale.K + 1, dense_below=0)
    cache = str(tmp_path / "reference.npz")
    values, vectors, how = scale.reference_eigenpairs(data, cache, solved)
    assert how == "computed" and not calls  # no second solve
    np.testing.assert_array_equal(vectors, solved[1])
    with np.load(cache) as saved:
        np.testing.assert_array_equal(saved["values"], solved[0])


@pytest.mark.slow
def test_tiny_real_run(tmp_path, capsys):
    report, log = run_main(["--graphs", "sbm", "--sizes", "2000", "--solvers", "eigsh", "neural_full",
                            "--threads", "1", "2", "--passes", "1", "--full-steps", "20"], tmp_path, capsys)
    runs = table_rows(report)
    assert [(r[2], r[3].split()[0]) for r in runs] == [("eigsh", "1"), ("eigsh", "2"), ("neural_full", "1"),
                                                       ("neural_full", "2")]
    assert sum(r[3].endswith("(best)") for r in runs) == 2
    assert all(r[4] == "1/1" and float(r[5]) > 0 and r[11] != "-" for r in runs)
    assert re.search(r"\| neural_full \| [12] \| [\d.]+ \| \d+ \| [\d.e+-]+ \| [\d.]+x \| [\d.]+x \|", report)
    # the first run computed the reference; the other three loaded it
    assert [r["extra"]["reference"] for r in log] == ["computed", "cache", "cache", "cache"]
    assert all(r["extra"]["steps"] == 20 for r in log if r["job"] == "neural_full")
