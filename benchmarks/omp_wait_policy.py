"""Does OpenMP's spin-waiting explain why 2 threads lose on a loaded 2-core machine?

Times the inductive PE (refine_steps=24, batches of 100) and PyG's LapPE on the cached held-out graphs of
``benchmarks/pe_throughput.py`` (run that first: it trains the model into ``--work``), each at 1 and 2 threads,
with the default ``OMP_WAIT_POLICY`` and with ``PASSIVE``. Threads park instead of spinning at barriers, and the
policy is read when libgomp loads, so it is set in each child's environment. Harness: benchmarks/_timing.py.

Run::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/omp_wait_policy.py --passes 2
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _timing  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--work", default="/tmp/pyg_spectral_pe_throughput")
    args = p.parse_args(argv)
    script = str(HERE / "pe_throughput.py")
    jobs = []
    for method in ("inductive:24", "lappe"):
        for policy in (None, "PASSIVE"):
            env = dict(os.environ)
            if policy:
                env["OMP_WAIT_POLICY"] = policy
            jobs.append(_timing.Job(f"{method} wait={policy or 'default'}", env=env,
                                    command=[sys.executable, script, "--worker", method, "--work", args.work]))
    rows = _timing.run_round_robin(jobs, (1, 2), args.passes, log=lambda m: print(
        m.job, m.threads, f"{m.wall_s:.2f} s wall, {m.cpu_s:.2f} s CPU, load {m.load_1min:.1f}", flush=True))
    print("| job | threads | wall s (median) | CPU s | slowest-fastest | load at start |")
    print("|---|---|---|---|---|---|")
    for s in _timing.summarize(rows):
        print(f"| {s.job} | {s.threads} | {s.wall_s:.2f} | {s.cpu_s:.2f} | {s.wall_min:.2f}-{s.wall_max:.2f} | "
              f"{s.load_1min:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
