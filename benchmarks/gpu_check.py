"""GPU check: the CUDA tests, a 1e6-node mini-batch fit, the batched inductive PE, and a 1-GPU NCCL torchrun.

One script for a machine with a CUDA GPU, sized to finish in under 8 minutes:

1. ``cuda_tests``: the tests that skip without CUDA (those marked ``reason="needs a CUDA GPU"``), run by pytest;
2. ``minibatch_fit``: ``NeuralSpectralEmbedding(32, encoder="mlp", batch_size=...)`` on a 1e6-node planted
   partition graph with block features (one-hot block and sqrt-degree, as ``benchmarks/scale.py``) on CUDA,
   against ``eigsh`` on the CPU (all cores), compared by eigenvalue error and subspace distance;
3. ``inductive_pe``: the batched inductive PE (a model trained briefly on the CPU, then moved) on CUDA in
   batches of 100 graphs vs PyG's ``AddLaplacianEigenvectorPE`` on the CPU (1 thread, its best setting
   on small graphs), graphs/s and similarity to the exact eigenvectors;
4. ``torchrun``: ``python -m torch.distributed.run --nproc-per-node 1 -m pyg_spectral.train`` with NCCL (it
   checks that the NCCL process group starts and the run finishes; the CLI passes ``device`` to the estimator
   only when ``world_size > 1``, so with one process the training itself may run on the CPU).

Writes ``benchmarks/results/gpu.md``. Without CUDA it prints one line saying why and exits 0, writing
nothing (``--write-skip``: a file saying it was skipped). ``--dry-run`` runs every step's plumbing on tiny
inputs on the CPU (gloo instead of NCCL) in well under a minute, for testing.

Run::

    .venv/bin/python benchmarks/gpu_check.py            # on a CUDA machine
    .venv/bin/python benchmarks/gpu_check.py --dry-run --output /tmp/gpu.md
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
CUDA_MARK = "needs a CUDA GPU"
K = 32


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="tiny inputs on the CPU (gloo): exercise the plumbing")
    p.add_argument("--device", default=None, help="device for the neural steps (default: cuda; cpu with --dry-run)")
    p.add_argument("--nodes", type=int, default=None, help="nodes of the mini-batch graph (default 1e6; dry: 2000)")
    p.add_argument("--steps", type=int, default=None, help="mini-batch training steps (default 1500; dry: 20)")
    p.add_argument("--batch-size", type=int, default=4096, help="rows per mini-batch step")
    p.add_argument("--pe-graphs", type=int, default=None, help="held-out PE graphs (default 200; dry: 6)")
    p.add_argument("--budget", type=float, default=480.0, help="seconds for all steps; later steps are skipped")
    p.add_argument("--steps-only", nargs="+", default=None,
                   choices=["cuda_tests", "minibatch_fit", "inductive_pe", "torchrun"], help="run only these")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "gpu.md"))
    p.add_argument("--write-skip", action="store_true", help="without CUDA, write a file saying it was skipped")
    return p


def settings(args: argparse.Namespace) -> Dict:
    """The sizes each step runs at: the real check, or tiny ones for ``--dry-run``."""
    dry = args.dry_run
    return dict(
        device=args.device or ("cpu" if dry else "cuda"),
        nodes=args.nodes or (2000 if dry else 1_000_000),
        steps=args.steps or (20 if dry else 1500),
        batch_size=min(args.batch_size, 256) if dry else args.batch_size,
        pe_graphs=args.pe_graphs or (6 if dry else 200),
        pe_train_graphs=40 if dry else 1000,
        pe_train_steps=10 if dry else 1000,
        pe_batch=3 if dry else 100,
        backend="gloo" if dry else "nccl",
        dry=dry,
        train_steps=5 if dry else 300,
    )


# ------------------------------------------------------------------ steps
def cuda_test_files(root: Path = ROOT) -> List[str]:
    """Test files holding a test that skips without CUDA."""
    return sorted(str(p.relative_to(root)) for p in (root / "tests").rglob("test_*.py")
                  if CUDA_MARK in p.read_text(errors="ignore"))


def _pytest_counts(output: str) -> Dict[str, int]:
    counts = {}
    for number, word in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)", output):
        counts[word.rstrip("s") if word == "errors" else word] = int(number)
    return counts


def step_cuda_tests(cfg: Dict, timeout: float) -> Dict:
    files = cuda_test_files()
    if not files:
        return dict(status="nothing to run", detail=f"no test file mentions {CUDA_MARK!r}")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", *files]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    counts = _pytest_counts(proc.stdout.splitlines()[-1] if proc.stdout.strip() else "")
    ok = proc.returncode in (0, 5) and not counts.get("failed") and not counts.get("error")
    if not cfg["dry"] and not counts.get("passed"):
        ok = False  # on a CUDA machine these tests must run, not skip
    return dict(status="ok" if ok else "FAILED", seconds=time.perf_counter() - t,
                detail=f"`pytest -k cuda {' '.join(files)}`: " + (", ".join(f"{v} {k}" for k, v in counts.items())
                                                                   or proc.stdout[-300:]))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_minibatch_fit(cfg: Dict, timeout: float) -> Dict:
    from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
    from pyg_spectral.metrics import gap_cutoff, subspace_distance
    from scale import build_graph

    data = build_graph("sbm", cfg["nodes"])
    device = cfg["device"]
    model = NeuralSpectralEmbedding(K, encoder="mlp", batch_size=cfg["batch_size"], max_steps=cfg["steps"], tol=1e-3,
                                    lr=3e-3, eval_every=250, eval_size=4096,
                                    encoder_kwargs={"hidden_channels": 64, "head": "linear"},  # as scale.md's rows
                                    progress=False, device=device)
    _sync(device)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data)
    _sync(device)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    vals, vecs = exact_eigenpairs(data, K + 1, dense_below=0)
    eigsh_s = time.perf_counter() - t
    kk = gap_cutoff(vals, K, 1e-8)
    dist = float(subspace_distance(np.asarray(model.embedding_.detach().cpu(), dtype=np.float64)[:, :kk], vecs[:, :kk]))
    err = float(np.abs(np.asarray(model.eigenvalues_.cpu()) - vals[:K]).max())
    return dict(status="ok", seconds=fit_s + eigsh_s,
                detail=f"n = {data.num_nodes}: fit on {device} {fit_s:.1f} s ({model.n_iter_} steps, batch "
                       f"{cfg['batch_size']}), eigsh on the CPU ({torch.get_num_threads()} threads) {eigsh_s:.1f} s; "
                       f"max eigenvalue error {err:.1e}, subspace distance {dist:.1e} (first {kk} modes)")


def step_inductive_pe(cfg: Dict, timeout: float) -> Dict:
    from torch_geometric.loader import DataLoader
    from torch_geometric.transforms import AddLaplacianEigenvectorPE

    import _timing
    from pe_throughput import K as PE_K, _exact, _similarities, make_graph
    from pyg_spectral.transforms import AddNeuralEigenvectorPE

    rng = np.random.default_rng(0)
    train = [make_graph(i, 20, 500, rng) for i in range(cfg["pe_train_graphs"])]
    test = [make_graph(10_000 + i, 20, 1000, rng) for i in range(cfg["pe_graphs"])]
    t = time.perf_counter()
    pe = AddNeuralEigenvectorPE.fit(train, k=PE_K, steps=cfg["pe_train_steps"], progress=False, gnn="gcn",
                                    num_layers=4, hidden_channels=32)
    train_s = time.perf_counter() - t
    pe.is_undirected = True
    device = cfg["device"]
    pe.model_.to(device)
    batches = [b.to(device) for b in DataLoader(test, batch_size=cfg["pe_batch"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pe(batches[0])  # warm-up: kernels, workspace
        _sync(device)
        t = time.perf_counter()
        outs = [pe(b) for b in batches]
        _sync(device)
        ind_s = time.perf_counter() - t
        lap = AddLaplacianEigenvectorPE(PE_K, is_undirected=True)
        with _timing.limited_threads(1):
            lap(test[0].clone())
            t = time.perf_counter()
            lap_pes = [lap(g.clone()).laplacian_eigenvector_pe for g in test]
            lap_s = time.perf_counter() - t
    pes = []
    for out in outs:
        x = out.laplacian_eigenvector_pe.cpu()
        pes.extend(x[out.ptr[i]:out.ptr[i + 1]] for i in range(out.num_graphs))
    exact = _exact(test)
    sims, lap_sims = _similarities(pes, exact), _similarities(lap_pes, exact)
    ok = np.isfinite(sims)
    ratio = lap_s / ind_s
    return dict(status="ok", seconds=train_s + ind_s + lap_s,
                detail=f"{len(test)} graphs: inductive on {device} (refine_steps={pe.refine_steps}, batches of "
                       f"{cfg['pe_batch']}) {len(test) / ind_s:.0f} graphs/s, LapPE on 1 CPU thread "
                       f"{len(test) / lap_s:.1f} graphs/s: {ratio:.1f}x; similarity mean {sims[ok].mean():.3f}, "
                       f"10th pct {np.percentile(sims[ok], 10):.3f} (LapPE {np.nanmean(lap_sims):.3f}); model "
                       f"trained {cfg['pe_train_steps']} steps on {len(train)} graphs ({train_s:.0f} s, CPU)")


def step_torchrun(cfg: Dict, timeout: float) -> Dict:
    from pyg_spectral.datasets import planted_partition_graph

    with tempfile.TemporaryDirectory() as tmp:
        graph, out = Path(tmp) / "graph.pt", Path(tmp) / "out.pt"
        data = planted_partition_graph(2000, 8, avg_degree=10, mixing=0.05, seed=0)
        data.x = torch.nn.functional.one_hot(data.y, 8).float()
        torch.save(data, graph)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
               "-m", "pyg_spectral.train", str(graph), "--k", "8", "--encoder", "mlp", "--batch-size", "256",
               "--max-steps", str(cfg["train_steps"]), "--eval-every", "50", "--backend", cfg["backend"],
               "--quiet", "--force", "--output", str(out)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            return dict(status="FAILED", seconds=wall, detail=f"exit {proc.returncode}: "
                                                              + " ".join(proc.stderr.strip().splitlines()[-3:])[:400])
        payload = torch.load(out, weights_only=True)
    return dict(status="ok", seconds=wall,
                detail=f"backend {cfg['backend']}, world_size {payload['world_size']}, {payload['steps']} steps, max "
                       f"residual {float(torch.as_tensor(payload['residuals']).max()):.1e}, fit {payload['fit_time']:.1f} s"
                       f" (wall with start-up {wall:.1f} s)")


STEPS: Dict[str, Callable[[Dict, float], Dict]] = {"cuda_tests": step_cuda_tests, "minibatch_fit": step_minibatch_fit,
                                                    "inductive_pe": step_inductive_pe, "torchrun": step_torchrun}


# ------------------------------------------------------------------ driver
def skip_reason(args: argparse.Namespace) -> str:
    """Why the check cannot run here, or '' when it can."""
    if args.dry_run:
        return ""
    if not torch.cuda.is_available():
        return "no CUDA GPU (torch.cuda.is_available() is False)"
    return ""


def run_steps(args: argparse.Namespace, cfg: Dict) -> List[Dict]:
    start = time.perf_counter()
    rows = []
    for name in args.steps_only or list(STEPS):
        left = args.budget - (time.perf_counter() - start)
        if left <= 5:
            rows.append(dict(step=name, status="skipped", detail=f"budget of {args.budget:.0f} s spent"))
            continue
        try:
            row = STEPS[name](cfg, left)
        except subprocess.TimeoutExpired:
            row = dict(status="FAILED", detail=f"timed out after {left:.0f} s")
        except Exception as exc:  # one broken step must not hide the others' results
            row = dict(status="FAILED", detail=f"{type(exc).__name__}: {exc}"[:400])
            traceback.print_exc()
        row["step"] = name
        rows.append(row)
        print(f"{name}: {row['status']} - {row['detail']}", flush=True)
    return rows


def report(rows: List[Dict], cfg: Dict, args: argparse.Namespace) -> str:
    from _common import markdown_table

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (dry run)"
    table = markdown_table(["step", "status", "seconds", "result"],
                           [[r["step"], r["status"], f"{r['seconds']:.1f}" if "seconds" in r else "-",
                             r["detail"].replace("|", "/")] for r in rows])
    return (f"# GPU check\n\nCommand: `.venv/bin/python benchmarks/gpu_check.py {' '.join(sys.argv[1:])}`\n"
            f"Device: {device}; torch {torch.__version__}; {os.cpu_count()} CPU cores. Generated "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.{' DRY RUN: tiny inputs on the CPU.' if args.dry_run else ''}\n\n"
            f"{table}\n")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    reason = skip_reason(args)
    out = Path(args.output)
    if reason:
        print(f"gpu_check: skipped: {reason}")
        if args.write_skip:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(f"# GPU check\n\nSkipped on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {reason}.\n")
        return 0
    cfg = settings(args)
    rows = run_steps(args, cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(rows, cfg, args))
    print(f"wrote {out}")
    return 0 if all(r["status"] != "FAILED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
