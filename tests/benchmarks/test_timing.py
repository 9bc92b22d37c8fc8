"""The fair-timing harness: order of the runs, medians, best settings, and what a row records."""
import os
import sys
import textwrap
import time

import pytest
import torch

import _timing
from _timing import Job, Measurement


def busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def m(job, threads, wall, p=0, cpu=None, **extra):
    return Measurement(job, threads, p, wall, wall if cpu is None else cpu, 10.0, 1.0, extra)


def test_schedule_is_round_robin_over_passes():
    a, b = Job("a", fn=lambda: None), Job("b", fn=lambda: None)
    order = [(p, j.name, t) for p, j, t in _timing.schedule([a, b], (1, 2), 2)]
    assert order == [(0, "a", 1), (0, "a", 2), (0, "b", 1), (0, "b", 2),
                     (1, "a", 1), (1, "a", 2), (1, "b", 1), (1, "b", 2)]
    with pytest.raises(ValueError, match="passes"):
        _timing.schedule([a], (1,), 0)


def test_run_round_robin_calls_in_order_with_threads_set():
    calls = []
    jobs = [Job(name, fn=lambda name=name: calls.append((name, torch.get_num_threads()))) for name in "xy"]
    before = torch.get_num_threads()
    rows = _timing.run_round_robin(jobs, threads=(1, 2), passes=2)
    assert calls == [("x", 1), ("x", 2), ("y", 1), ("y", 2)] * 2
    assert [(r.pass_index, r.job, r.threads) for r in rows] == [(p, j, t) for p in (0, 1) for j in "xy" for t in (1, 2)]
    assert torch.get_num_threads() == before  # restored


def test_summarize_takes_medians_per_job_and_threads():
    rows = [m("a", 1, 3.0, 0, score=0.5), m("a", 1, 1.0, 1, score=0.7), m("a", 1, 2.0, 2, score=0.9),
            m("a", 2, 9.0, 0), m("b", 1, 4.0, 0, cpu=8.0), m("b", 1, 6.0, 1, cpu=2.0)]
    s = {(x.job, x.threads): x for x in _timing.summarize(rows)}
    assert [k for k in s] == [("a", 1), ("a", 2), ("b", 1)]
    assert s["a", 1].wall_s == 2.0 and s["a", 1].wall_min == 1.0 and s["a", 1].wall_max == 3.0
    assert s["a", 1].passes == 3 and s["a", 1].extra["score"] == pytest.approx(0.7)
    assert s["b", 1].wall_s == 5.0 and s["b", 1].cpu_s == 5.0  # even count: mean of the middle two


def test_best_setting_and_ratios_against_the_anchor_at_its_best():
    rows = [m("lap", 1, 1.0), m("lap", 1, 1.2, 1), m("lap", 2, 8.0), m("lap", 2, 7.0, 1),
            m("new", 1, 0.5), m("new", 2, 0.25), m("tie", 1, 2.0), m("tie", 2, 2.0)]
    summaries = _timing.summarize(rows)
    best = _timing.best_settings(summaries)
    assert best["lap"].threads == 1 and best["new"].threads == 2
    assert best["tie"].threads == 1  # a tie goes to the cheaper setting
    ratio = _timing.speedups(summaries, "lap")
    # lap's best median is 1.1 s (1 thread), not its 2-thread 7.5 s
    assert ratio["new", 2] == pytest.approx(1.1 / 0.25)
    assert ratio["lap", 2] == pytest.approx(1.1 / 7.5)
    with pytest.raises(ValueError, match="anchor"):
        _timing.speedups(summaries, "missing")


def test_measure_callable_records_cpu_seconds_and_load():
    spin = _timing.measure_callable("spin", lambda: busy(0.2), threads=1)
    assert spin.cpu_s >= 0.19 and spin.wall_s >= spin.cpu_s * 0.5
    nap = _timing.measure_callable("nap", lambda: time.sleep(0.2), threads=1)
    assert nap.wall_s >= 0.19 and nap.cpu_s < 0.1  # sleeping costs wall time, not CPU
    assert nap.load_1min == pytest.approx(os.getloadavg()[0], abs=5.0) and nap.max_rss_mb > 0


def test_thread_env_sets_every_pool():
    env = _timing.thread_env(3, base={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}
    with pytest.raises(ValueError, match="threads"):
        _timing.thread_env(0)
    with pytest.raises(ValueError, match="exactly one"):
        Job("x")


CHILD = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {bench!r})
    import _timing
    block = bytearray(150 * 2**20)  # touched: 150 MB resident
    c0, t0 = time.process_time(), time.perf_counter()
    end = c0 + 0.2
    while time.process_time() < end:
        pass
    _timing.emit(time.perf_counter() - t0, time.process_time() - c0,
                 omp=os.environ["OMP_NUM_THREADS"], blas=os.environ["OPENBLAS_NUM_THREADS"])
""")


def test_measure_subprocess_reads_the_child_timed_region_and_memory():
    code = CHILD.format(bench=str(_timing.__file__.rsplit("/", 1)[0]))
    row = _timing.measure_subprocess("child", [sys.executable, "-c", code], threads=2)
    assert row.threads == 2 and row.extra == {"omp": "2", "blas": "2"}
    assert 0.19 <= row.cpu_s < 1.0 and row.wall_s >= 0.19
    assert 150 <= row.max_rss_mb < 400  # the child's own peak, not this (larger) test process's


def test_measure_subprocess_without_a_record_times_the_whole_child():
    code = "import time\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass\n"
    row = _timing.measure_subprocess("plain", [sys.executable, "-c", code], threads=1)
    assert row.cpu_s >= 0.19 and row.wall_s >= 0.19 and row.extra == {}


def test_failing_child_and_timeout_raise():
    with pytest.raises(RuntimeError, match="exited 3"):
        _timing.measure_subprocess("bad", [sys.executable, "-c", "import sys; sys.exit(3)"], threads=1)
    import subprocess

    with pytest.raises(subprocess.TimeoutExpired):
        _timing.measure_subprocess("slow", [sys.executable, "-c", "import time; time.sleep(30)"], threads=1,
                                   timeout=0.5)


def test_parse_timing_takes_the_last_record():
    out = "noise\n__TIMING__ {\"wall_s\": 1, \"cpu_s\": 2}\n__TIMING__ {\"wall_s\": 3, \"cpu_s\": 4}\n"
    assert _timing.parse_timing(out) == {"wall_s": 3, "cpu_s": 4}
    assert _timing.parse_timing("nothing") is None
