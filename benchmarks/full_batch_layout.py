"""A/B: full-batch network training with and without the sparse input layout (``full_batch_layout``).

Cora's LCC, k = 16, library defaults, a fixed number of steps; each configuration is fitted in its own process,
interleaved within each pass, at each thread count (torch, OpenMP and BLAS set together); medians over passes.

    PYTHONPATH=. .venv/bin/python benchmarks/full_batch_layout.py --output benchmarks/results/full_batch_layout.md
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(encoder: str, steps: int, threads: int, layout: bool) -> None:
    import warnings

    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from encoders import load

    import pyg_spectral.training.objective as objective
    from pyg_spectral import NeuralSpectralEmbedding

    torch.set_num_threads(threads)
    if not layout:  # the previous behaviour: the inputs as given
        objective.full_batch_layout = lambda encoder, x, edge_index, num_nodes: (x, edge_index)
    data = load("Cora")
    est = NeuralSpectralEmbedding(16, encoder=encoder, max_steps=steps, progress=False, seed=0)
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(data)
    wall, cpu1 = time.perf_counter() - wall0, resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall": wall, "cpu": cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime,
                      "rss_mb": cpu1.ru_maxrss / 1024, "eig0": float(est.eigenvalues_[1])}))


def run(encoder, steps, threads, layout):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out = subprocess.run([sys.executable, __file__, "--child", encoder, str(steps), str(threads), str(int(layout))],
                         capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--encoders", nargs="+", default=["mlp", "sage"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if args.child:
        enc, steps, threads, layout = args.child
        return child(enc, int(steps), int(threads), bool(int(layout)))
    load0 = os.getloadavg()[0]
    configs = [(e, t, lay) for e in args.encoders for t in args.threads for lay in (False, True)]
    recs = {c: [] for c in configs}
    for p in range(args.passes):
        for c in configs:
            recs[c].append(run(c[0], args.steps, c[1], c[2]))
            print(p, c, recs[c][-1], flush=True)
    lines = ["# Full-batch input layout: A/B", "",
             f"Command: `PYTHONPATH=. .venv/bin/python benchmarks/full_batch_layout.py --encoders {' '.join(args.encoders)} "
             f"--steps {args.steps} --threads {' '.join(map(str, args.threads))} --passes {args.passes}"
             + (f" --output {args.output}`" if args.output else "`"), "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at start {load0:.2f}. "
             f"Cora LCC, k = 16, library defaults, {args.steps} steps (fit included: load of the graph excluded); "
             f"each fit in its own process, interleaved within each pass; medians of {args.passes} passes. "
             "`layout off`: inputs as given (dense features, edge list); `layout on`: `full_batch_layout`.", "",
             "| encoder | threads | layout | wall s | CPU s | peak RSS MB | off / on (wall) |", "|---|---|---|---|---|---|---|"]
    for e in args.encoders:
        for t in args.threads:
            med = {lay: {k: statistics.median(r[k] for r in recs[(e, t, lay)]) for k in ("wall", "cpu", "rss_mb")}
                   for lay in (False, True)}
            for lay in (False, True):
                ratio = f"{med[False]['wall'] / med[True]['wall']:.2f}x" if lay else ""
                lines.append(f"| {e} | {t} | {'on' if lay else 'off'} | {med[lay]['wall']:.2f} | {med[lay]['cpu']:.2f} "
                             f"| {med[lay]['rss_mb']:.0f} | {ratio} |")
        best = {lay: min(statistics.median(r["wall"] for r in recs[(e, t, lay)]) for t in args.threads)
                for lay in (False, True)}
        lines.append(f"| {e} | best | | off {best[False]:.2f} / on {best[True]:.2f} | | | {best[False] / best[True]:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
