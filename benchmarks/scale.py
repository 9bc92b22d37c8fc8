"""Scale benchmark: exact solvers vs neural (full-batch and mini-batch) on growing graphs.

Graphs (largest connected component), k = 32 bottom eigenpairs of the normalized Laplacian:

* ``sbm``: planted partition, 32 equal blocks, average degree 10, 5% of edges between blocks
  (bottom-32 eigenvalues near 0.05, bulk from ~0.4: a wide, known gap);
* ``rgg``: random geometric graph in the unit square, average degree 10 (mesh-like, tiny gaps).

Solvers, each in its own subprocess (time and peak memory above the loaded graph, sampled every 5 ms):

* ``eigsh``: ``scipy.sparse.linalg.eigsh`` (ARPACK, which='LA' on I - L/2, tol=0);
* ``lobpcg``: ``torch.lobpcg`` on the same matrix (float32, tol 1e-4, at most ``--lobpcg-iters`` iterations;
  its iteration count and converged-pair count read by a ``tracker``);
* ``scipy_lobpcg``: ``scipy.sparse.linalg.lobpcg`` on the same matrix (float64, tol 1e-4, at most
  ``--lobpcg-iters`` iterations, the iteration count from its residual history);
* ``neural_full``: ``NeuralSpectralEmbedding(32)`` defaults (embedding table, full batch), tol 1e-3;
* ``krylov``: ``NeuralSpectralEmbedding(32, encoder="krylov")`` (the inductive Chebyshev-Krylov encoder, head by
  block-Lanczos Rayleigh–Ritz, full batch), tol 1e-3;
* ``neural_minibatch``: MLP encoder on node features (SBM: one-hot block and sqrt-degree; RGG: coordinates),
  ``batch_size=1024``, node sampler, fixed step budget;
* ``neural_minibatch_sign``: the same MLP on ``[x, D^{-1/2} A D^{-1/2} x]`` (one SIGN hop, Frasca et al. 2020,
  computed inside the timed and memory-measured region by one CSR matmul), ``--sign-steps`` steps. Mini-batch
  training with ``x`` alone stops near subspace distance 2e-2 (what block and degree can express); one hop of
  neighbourhood information takes it below 1e-2.
* ``neural_minibatch_ritz``: the SIGN inputs with the library's mini-batch default, a solved head
  (``RitzHead``: head from averaged batch moments, trunk trained on the Ritz residual, exact head streamed over
  node chunks at the end), default learning rate, ``--sign-steps`` steps.

Above ``--big`` nodes only the SBM runs, without lobpcg (2-core time budget; see the results file).

Accuracy: subspace distance to the eigsh vectors (where the reference was computed) and the max residual
||Lu - λu|| (needs no ground truth). The full-batch worker also measures the cost of one training step
against one sparse matmul plus one Gram product of the same sizes.

Run::

    .venv/bin/python benchmarks/scale.py                      # n = 1e4, 1e5, 1e6; writes benchmarks/results/scale.md
    .venv/bin/python benchmarks/scale.py --sizes 10000 --graphs sbm   # quick
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
K = 32
SOLVERS = ("eigsh", "lobpcg", "scipy_lobpcg", "neural_full", "krylov", "neural_minibatch", "neural_minibatch_sign",
           "neural_minibatch_ritz")


# ---------------------------------------------------------------- worker side
class PeakMemory:
    """Peak resident memory above the level at entry, sampled in a thread."""

    def __init__(self, interval: float = 0.005):
        import psutil

        self.proc, self.interval = psutil.Process(), interval

    def __enter__(self):
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def build_graph(kind: str, n: int, seed: int = 0):
    import torch
    from torch_geometric.transforms import LargestConnectedComponents

    from pyg_spectral.datasets import planted_partition_graph, random_geometric_graph

    if kind == "sbm":
        data = planted_partition_graph(n, K, avg_degree=10, mixing=0.05, seed=seed)
    else:
        data = random_geometric_graph(n, avg_degree=10, seed=seed)
    data = LargestConnectedComponents()(data)
    deg = torch.bincount(data.edge_index[0], minlength=data.num_nodes).float()
    if kind == "sbm":
        data.x = torch.cat([torch.nn.functional.one_hot(data.y, K).float(), (deg / deg.mean()).sqrt().unsqueeze(-1)], 1)
    return data


def warm_up(solver: str) -> None:
    """Run the solver once on a tiny graph, so that imports and one-off allocations are not measured."""
    from pyg_spectral.datasets import grid_graph

    small = grid_graph(12, 12)
    small.x = torch_rand(small.num_nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if solver == "eigsh":
            from pyg_spectral import exact_eigenpairs

            exact_eigenpairs(small, 4, dense_below=0)
        elif solver == "lobpcg":
            import torch

            torch.lobpcg(symmetric_torch(small), k=4, largest=True, niter=5)
        elif solver == "scipy_lobpcg":
            import numpy as np
            from scipy.sparse.linalg import lobpcg

            X = np.random.default_rng(0).standard_normal((small.num_nodes, 4))
            lobpcg(symmetric_scipy(small), X, largest=True, maxiter=5, tol=1e-4)
        else:
            from pyg_spectral import NeuralSpectralEmbedding

            kw = ({} if solver == "neural_full" else dict(encoder="krylov") if solver == "krylov"
                  else dict(encoder="mlp", batch_size=16))
            NeuralSpectralEmbedding(4, max_steps=30, progress=False, **kw).fit(small)


def torch_rand(n: int):
    import torch

    return torch.rand(n, K + 1)


def symmetric_scipy(data):
    """T = I - L_sym / 2 (scipy CSR): its largest eigenpairs are L_sym's smallest, eigenvalue 2 (1 - theta)."""
    from pyg_spectral.operators import build_operator

    return build_operator("laplacian", data.edge_index, None, data.num_nodes).symmetric_matrix().tocsr()


def symmetric_torch(data):
    import torch

    from pyg_spectral.operators import build_operator

    S = build_operator("laplacian", data.edge_index, None, data.num_nodes).symmetric_matrix().tocoo()
    idx = torch.from_numpy(__import__("numpy").vstack([S.row, S.col]).astype("int64"))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(S.data).float(), S.shape).coalesce()


def worker(solver: str, kind: str, n: int, args) -> dict:
    import numpy as np
    import torch

    from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
    from pyg_spectral.metrics import subspace_distance

    torch.set_num_threads(args.threads)
    warm_up(solver)
    data = build_graph(kind, n)
    out = {"solver": solver, "graph": kind, "n": data.num_nodes, "edges": data.edge_index.size(1) // 2}
    vecs = None
    t0 = time.perf_counter()
    with PeakMemory() as mem:
        if solver == "eigsh":
            vals, vecs = exact_eigenpairs(data, K + 1, dense_below=0)
            vals, vecs = vals[:K], vecs[:, :K]
            out["converged"] = True
        elif solver == "lobpcg":
            A = symmetric_torch(data)
            gen = torch.Generator().manual_seed(0)
            X = torch.randn(data.num_nodes, K + 8, generator=gen)
            state = {}

            def tracker(worker):  # called once per iteration: keep the last counts
                state.update(steps=int(worker.ivars["istep"]), converged=int(worker.ivars["converged_count"]))

            theta, V = torch.lobpcg(A, X=X, k=K + 8, largest=True, tol=1e-4, niter=args.lobpcg_iters,
                                    tracker=tracker)
            vals, vecs = 2 * (1 - theta[:K].double().numpy()), V[:, :K].double().numpy()
            out.update(steps=state.get("steps"), converged_pairs=state.get("converged"),
                       converged=state.get("converged", 0) >= K + 8)
        elif solver == "scipy_lobpcg":
            from scipy.sparse.linalg import lobpcg

            A = symmetric_scipy(data)
            X = np.random.default_rng(0).standard_normal((data.num_nodes, K + 8))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                theta, V, history = lobpcg(A, X, largest=True, tol=1e-4, maxiter=args.lobpcg_iters,
                                           retResidualNormsHistory=True)
            order = np.argsort(-theta)
            theta, V = theta[order], V[:, order]
            vals, vecs = 2 * (1 - theta[:K]), V[:, :K]
            # scipy warns when it stops at maxiter short of tol
            out.update(steps=len(history), converged=not any("not reaching" in str(w.message) or
                                                              "maxiter" in str(w.message) for w in caught))
        else:
            kwargs = dict(tol=1e-3, progress=False)
            if solver == "neural_full":
                kwargs.update(max_steps=args.full_steps)
            elif solver == "krylov":
                kwargs.update(encoder="krylov")
            else:
                kwargs.update(encoder="mlp", batch_size=1024, max_steps=args.minibatch_steps, lr=3e-3,
                              eval_every=250, eval_size=4096,
                              # the trained linear head that scale.md records (the solved head: encoders_minibatch.md)
                              encoder_kwargs={"hidden_channels": 64, "head": "linear"})
                if solver == "neural_minibatch_ritz":
                    kwargs.update(lr=None, encoder_kwargs={"hidden_channels": 64, "head": "ritz"})
                if solver in ("neural_minibatch_sign", "neural_minibatch_ritz"):
                    from pyg_spectral.operators import NormalizedAdjacency

                    adj = NormalizedAdjacency.from_edge_index(data.edge_index, None, data.num_nodes, check=False)
                    data.x = torch.cat([data.x, adj.matvec(data.x)], 1)
                    del adj
                    kwargs.update(max_steps=args.sign_steps)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = NeuralSpectralEmbedding(K, **kwargs).fit(data)
            vals, vecs = model.eigenvalues_.numpy(), model.embedding_
            out.update(converged=bool(model.converged_), steps=int(model.n_iter_),
                       max_residual=float(model.residuals_.max()))
    out.update(seconds=time.perf_counter() - t0, peak_mb=mem.extra_mb)
    if solver == "neural_full":
        out.update(step_cost(model, args))
    if "max_residual" not in out:
        from pyg_spectral.metrics import residual_norms
        from pyg_spectral.operators import build_operator

        op = build_operator("laplacian", data.edge_index, None, data.num_nodes, dtype=torch.float64)
        lap = lambda u: (u - op.matvec(u)) * 2  # L = 2 (I - T)
        out["max_residual"] = float(residual_norms(lap, torch.as_tensor(np.asarray(vecs)), vals).max())
    if data.num_nodes <= args.reference_max:
        ref_vals, ref_vecs = exact_eigenpairs(data, K + 1, dense_below=0)
        from pyg_spectral.metrics import gap_cutoff

        kk = gap_cutoff(ref_vals, K, 1e-8)  # compare eigenspaces at a gap
        out["compared_modes"] = kk
        out["subspace_distance"] = float(subspace_distance(np.asarray(vecs, dtype=np.float64)[:, :kk],
                                                           ref_vecs[:, :kk]))
        out["max_eig_error"] = float(np.abs(np.asarray(vals) - ref_vals[:K]).max())
    return out


def step_cost(model, args) -> dict:
    """Seconds of one full-batch training step vs one sparse matmul plus one Gram product."""
    import torch

    op, enc, loss_fn = model.operator_, model.encoder_, model.loss_fn_
    enc.train()
    opt = torch.optim.SGD(enc.parameters(), lr=1e-6, momentum=0.9)
    rho = op.measure

    def step():
        opt.zero_grad(set_to_none=True)
        f = enc()
        with torch.no_grad():
            tf = op.matvec(f.detach())
        loss_fn(f, tf, weight=rho).backward()
        opt.step()

    def kernels():
        f = enc().detach()
        op.matvec(f)
        f.T @ f

    def timeit(fn, reps=10):
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t) / reps

    s, kk = timeit(step), timeit(kernels)
    return {"step_s": s, "matmul_gram_s": kk, "step_ratio": s / kk}


# ---------------------------------------------------------------- parent side
def run_worker(solver, kind, n, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", solver, kind, str(n), "--threads", str(args.threads),
           "--lobpcg-iters", str(args.lobpcg_iters), "--full-steps", str(args.full_steps),
           "--minibatch-steps", str(args.minibatch_steps), "--reference-max", str(args.reference_max)]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _timing import thread_env

    # torch, OpenMP and BLAS threads together: ARPACK's BLAS otherwise takes every core it sees
    env = thread_env(args.threads)
    if args.malloc_mmap_threshold:
        # glibc raises its mmap threshold after large frees and then keeps freed blocks on the heap, which
        # inflates RSS of any code that allocates and frees [n, k] arrays in a loop. The same setting
        # applies to every solver.
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"solver": solver, "graph": kind, "n": n, "error": f"timeout after {args.timeout} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return {"solver": solver, "graph": kind, "n": n, "error": tail[0][:120]}
    line = [l for l in proc.stdout.splitlines() if l.startswith("{")][-1]
    res = json.loads(line)
    res["wall_with_setup_s"] = time.perf_counter() - t
    return res


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def write_report(results, args, path: Path):
    import torch

    header = ["graph", "n", "solver", "seconds", "peak MB", "max residual", "subspace dist", "max eig err",
              "steps", "converged"]
    # Runs above --big nodes: only sbm, no lobpcg (see main).
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['graph']} | {r['n']} | {r['solver']} | {r['error']} |" + " |" * 6)
            continue
        lines.append("| " + " | ".join([
            r["graph"], str(r["n"]), r["solver"], fmt(r["seconds"], ".2f"), fmt(r["peak_mb"], ".0f"),
            fmt(r.get("max_residual"), ".1e"), fmt(r.get("subspace_distance"), ".1e"),
            fmt(r.get("max_eig_error"), ".1e"), str(r.get("steps", "-")), str(r.get("converged", "-")),
        ]) + " |")
    ratios = [r for r in results if "step_ratio" in r]
    ratio_lines = ["| graph | n | step s | matmul + Gram s | ratio |", "|---|---|---|---|---|"]
    ratio_lines += [f"| {r['graph']} | {r['n']} | {r['step_s']:.4f} | {r['matmul_gram_s']:.4f} | "
                    f"{r['step_ratio']:.2f} |" for r in ratios]
    try:
        import torch_scatter  # noqa: F401

        scatter = "installed"
    except ImportError:
        scatter = "not installed"
    text = f"""# Scale benchmark: k = {K} bottom Laplacian eigenpairs

Reproduce: `.venv/bin/python benchmarks/scale.py {' '.join(sys.argv[1:])}` (after `make install`).

Device: CPU only ({platform.processor() or platform.machine()}, {args.threads} threads); torch {torch.__version__};
every worker runs with `MALLOC_MMAP_THRESHOLD_={args.malloc_mmap_threshold}` (glibc otherwise keeps freed
[n, k] blocks on its heap after raising its mmap threshold, and RSS overstates live memory several-fold;
we measured 1.28 GB vs ~0.1 GB live for neural_full at n = 1e5);
torch-scatter {scatter}. No GPU was lent to this task, so no GPU numbers. Generated
{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.

Each solver runs in its own process; "seconds" is the solve (for neural: graph -> operator -> training -> final
Rayleigh-Ritz), "peak MB" the peak resident memory above the process's level before the solve. Subspace distance
and eigenvalue error are against eigsh (computed separately, not timed) where n <= {args.reference_max}.
Settings: eigsh tol=0; lobpcg tol=1e-4, at most {args.lobpcg_iters} iterations; neural_full: defaults, tol=1e-3,
at most {args.full_steps} steps; neural_minibatch: MLP (64 hidden), batch 1024, Adam 3e-3, {args.minibatch_steps}
steps; neural_minibatch_sign: the same on [x, D^-1/2 A D^-1/2 x], {args.sign_steps} steps.

{chr(10).join(lines)}

"subspace dist" compares the first k' <= {K} modes up to the last spectral gap > 1e-8 (k' in the JSON log).

## Cost of one full-batch step

One step of the embedding-table trainer (forward, one sparse matmul under no_grad, custom-gradient loss,
backward, heavy-ball update) against one sparse matmul plus one Gram product of the same [n, k+p] sizes.
Goal: ratio <= 3.

{chr(10).join(ratio_lines)}
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    plot(results, path.with_suffix(".png"))


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for graph, ls in (("sbm", "-"), ("rgg", "--")):
        for solver in SOLVERS:
            pts = sorted((r["n"], r["seconds"], r["peak_mb"]) for r in results
                         if r.get("graph") == graph and r.get("solver") == solver and "seconds" in r)
            if not pts:
                continue
            ns, ts, ms = zip(*pts)
            axes[0].loglog(ns, ts, ls, marker="o", label=f"{solver} ({graph})")
            axes[1].loglog(ns, [max(m, 1) for m in ms], ls, marker="o", label=f"{solver} ({graph})")
    axes[0].set(xlabel="nodes", ylabel="seconds", title="time to solve")
    axes[1].set(xlabel="nodes", ylabel="peak MB above baseline", title="memory")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)  # redrawn after every row: open figures would pile up


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("SOLVER", "GRAPH", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--graphs", nargs="+", default=["sbm", "rgg"], choices=["sbm", "rgg"])
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lobpcg-iters", type=int, default=300)
    parser.add_argument("--full-steps", type=int, default=3000)
    parser.add_argument("--minibatch-steps", type=int, default=1000)
    parser.add_argument("--sign-steps", type=int, default=2000)
    parser.add_argument("--big", type=int, default=500_000,
                        help="above this size run only the sbm graph and skip lobpcg")
    parser.add_argument("--reference-max", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per solver run")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=65536,
                        help="MALLOC_MMAP_THRESHOLD_ for every worker (0: leave glibc's default)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    args = parser.parse_args(argv)
    if args.worker:
        solver, kind, n = args.worker
        print(json.dumps(worker(solver, kind, int(n), args)))
        return 0
    results = []
    for n in args.sizes:
        for kind in args.graphs:
            if n > args.big and kind != "sbm":
                continue
            for solver in args.solvers:
                if n > args.big and solver in ("lobpcg", "scipy_lobpcg"):
                    continue
                res = run_worker(solver, kind, n, args)
                results.append(res)
                print(json.dumps(res), flush=True)
                write_report(results, args, Path(args.output))
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
