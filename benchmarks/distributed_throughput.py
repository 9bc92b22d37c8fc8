"""Throughput of data-parallel mini-batch training: 1 process vs N processes (torchrun).

Graph: a planted-partition SBM (``--nodes`` nodes, 32 blocks, average degree 10) with 64 node features
(one-hot block in the first 32, Gaussian noise in the rest); k = 32 bottom eigenpairs of the normalized
Laplacian, MLP encoder (3 layers, 256 hidden), node sampler. Every configuration runs
``python -m pyg_spectral.train`` for ``--steps`` steps with a held-out evaluation (2048 nodes, on rank 0)
every ``--warmup`` steps; throughput is measured from the first evaluation to the last (steady state,
evaluations included; no start-up, no final Rayleigh-Ritz).

Configurations (``--batch`` rows per rank):

* 1 process, ``--threads`` threads, batch B and batch N*B (same total batch as N processes);
* N processes (gloo on CPU, NCCL with ``--backend nccl``), ``--threads / N`` threads each, batch B each.

Run::

    .venv/bin/python benchmarks/distributed_throughput.py            # writes benchmarks/results/distributed.md
    .venv/bin/python benchmarks/distributed_throughput.py --nodes 20000 --steps 200 --no-write   # quick
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def make_graph(n: int, path: Path) -> None:
    from pyg_spectral.datasets import planted_partition_graph

    data = planted_partition_graph(n, 32, avg_degree=10.0, mixing=0.05, seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(data.num_nodes, 64, generator=gen) * 0.1
    x[torch.arange(data.num_nodes), data.y] += 1.0
    data.x = x
    torch.save(data, path)


def run(graph: Path, out: Path, procs: int, threads: int, batch: int, args) -> dict:
    train = ["-m", "pyg_spectral.train", str(graph), "--k", "32", "--encoder", "mlp", "--batch-size", str(batch),
             "--max-steps", str(args.steps), "--eval-every", str(args.warmup), "--tol", "0",
             "--eval-size", "2048", "--threads", str(threads), "--backend", args.backend, "--quiet", "--force",
             "--output", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if procs == 1:
        cmd = [sys.executable, *train]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs), *train]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    saved = torch.load(out, weights_only=False)
    hist = saved["history"]
    first = next(h for h in hist if h["step"] == args.warmup)
    steps = hist[-1]["step"] - first["step"]
    seconds = hist[-1]["time"] - first["time"]
    return {"procs": procs, "threads": threads, "batch": batch, "total": batch * procs, "steps_s": steps / seconds,
            "rows_s": steps * batch * procs / seconds, "wall": wall, "residual": hist[-1]["residual"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1024, help="rows per rank")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads in total")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "graph.pt"
        make_graph(args.nodes, graph)
        n = args.procs
        rows = [run(graph, Path(tmp) / "a.pt", 1, args.threads, args.batch, args),
                run(graph, Path(tmp) / "b.pt", 1, args.threads, n * args.batch, args),
                run(graph, Path(tmp) / "c.pt", n, max(args.threads // n, 1), args.batch, args)]
    same_total = rows[1]["rows_s"]
    lines = [
        "# Data-parallel throughput: 1 process vs %d processes" % n, "",
        f"Command: `.venv/bin/python benchmarks/distributed_throughput.py --nodes {args.nodes} --batch {args.batch} "
        f"--procs {n} --threads {args.threads} --steps {args.steps} --backend {args.backend}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{'CPU only' if not torch.cuda.is_available() else torch.cuda.get_device_name()}; backend {args.backend}.",
        f"Graph: SBM, {args.nodes} nodes, 32 blocks, 64 features; k = 32 (m = 48), MLP 3x256, node sampler; "
        f"steady state over steps {args.warmup}..{args.steps}.", "",
        "| processes | threads / process | batch / rank | total batch | steps/s | rows/s | rows/s vs 1 process, same total batch | held-out residual at the end |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['procs']} | {r['threads']} | {r['batch']} | {r['total']} | {r['steps_s']:.1f} | "
                     f"{r['rows_s']:.0f} | {r['rows_s'] / same_total:.2f}x | {r['residual']:.2e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        path = ROOT / "benchmarks" / "results" / "distributed.md"
        path.write_text(text + NOTES)
        print(f"wrote {path}")


NOTES = """
Reading the table: on one machine the processes share the same cores, so data parallelism can at best
match one process that uses all cores for a batch of the same total size; what it adds is per-rank
sampling and encoder work in parallel with less intra-op threading. The communication per step is one
all-gather of the batch outputs (2 x total batch x m floats) and DDP's all-reduce of the MLP gradient
(~0.1 M parameters). See docs/scaling.md for the arithmetic at ogbn-papers100M scale.
"""


if __name__ == "__main__":
    main()
