"""Scale benchmark: exact solvers vs neural (full-batch and mini-batch) on growing graphs, fairly timed.

Graphs (largest connected component), k = 32 bottom eigenpairs of the normalized Laplacian:

* ``sbm``: planted partition, 32 equal blocks, average degree 10, 5% of edges between blocks
  (bottom-32 eigenvalues near 0.05, bulk from ~0.4: a wide, known gap);
* ``rgg``: random geometric graph in the unit square, average degree 10 (mesh-like, tiny gaps).

Solvers:

* ``eigsh``: ``scipy.sparse.linalg.eigsh`` (ARPACK, which='LA' on I - L/2, tol=0);
* ``lobpcg``: ``torch.lobpcg`` on the same matrix in float32 (matrix and start block), tol 1e-4, block of
  k + 8, at most ``--lobpcg-iters`` iterations; a ``tracker`` reads its iteration count, its converged-pair
  count and the iteration at which the bottom k pairs had all converged;
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
* ``neural_minibatch_ritz_start``: ``neural_minibatch_ritz`` with the MLP's Ritz start (``encoder_kwargs["skip"]``:
  a linear skip started at Rayleigh–Ritz on the inputs' span, its moments summed over node chunks, so memory stays
  that of a batch), ``--ritz-start-steps`` steps.

The neural solvers are seeded (the estimator's default ``seed=0``).

Fairness (``benchmarks/_timing.py``): for each (graph, n), every (solver, threads) pair runs in a fresh
subprocess with torch, OpenMP and BLAS threads set together, the pairs interleaved round-robin over
``--passes`` passes (so that all see the same drift of a shared machine), and the report gives medians, each
solver's best thread setting, and ratios against eigsh at *its* best setting. Each run times its own solve
region (wall and CPU seconds) and samples its resident memory every 5 ms (peak above the level before the
solve); the 1-minute load average is read as each run starts. A run that fails or times out is a row saying
so, and is not repeated in later passes.

Above ``--big`` nodes only the SBM runs, without lobpcg (2-core time budget; see the results file).

Accuracy (pass 1's run of each (solver, threads) row): subspace distance to the eigsh vectors (where
n <= ``--reference-max``) and the max residual ||Lu - λu|| (needs no ground truth). The full-batch worker
also measures, in every pass, the cost of one training step against one sparse matmul plus one Gram product
of the same sizes.

Run::

    .venv/bin/python benchmarks/scale.py    # n = 1e4, 1e5, 1e6; 1 and 2 threads; 3 passes; writes results/scale.md
    .venv/bin/python benchmarks/scale.py --sizes 10000 --graphs sbm --passes 1   # quick
    .venv/bin/python benchmarks/scale.py --graphs sbm --sizes 1000000 --solvers eigsh neural_minibatch_sign \\
        --threads 1 2 --passes 3 --timeout 1200 --output benchmarks/results/scale_sbm_1e6.md
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
K = 32
SOLVERS = ("eigsh", "lobpcg", "scipy_lobpcg", "neural_full", "krylov", "neural_minibatch", "neural_minibatch_sign",
           "neural_minibatch_ritz", "neural_minibatch_ritz_start")
ITERATIVE = ("lobpcg", "scipy_lobpcg")  # skipped above --big
#: parent options the worker reads, forwarded to every worker (the thread count is added per run)
WORKER_OPTIONS = ("lobpcg_iters", "full_steps", "minibatch_steps", "sign_steps", "ritz_start_steps",
                  "reference_max")


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


def reference_eigenpairs(data, cache: Optional[str], solved=None):
    """``(values, vectors, source)``: eigsh's ``K + 1`` bottom eigenpairs (tol=0), the ground truth of the
    accuracy columns.

    The parent gives every pass-1 run on one (graph, n) the same ``cache`` path (.npz): the first run computes
    the pairs, after its timed region, and saves them there; the others load them. So the reference eigsh runs
    once per (graph, n), not once per (solver, threads), and only one run's start-up-to-exit time (which
    ``--timeout`` bounds) carries it. Every run builds the same graph (seeded generators). ``solved``: the
    eigsh worker's own ``(values, vectors)``, the very computation the reference is, saved instead of solving
    again (at n = 1e7 one eigsh solve is most of a run)."""
    import numpy as np

    from pyg_spectral import exact_eigenpairs

    if cache is not None and os.path.exists(cache):
        with np.load(cache) as saved:
            return saved["values"], saved["vectors"], "cache"
    values, vectors = solved if solved is not None else exact_eigenpairs(data, K + 1, dense_below=0)
    if cache is not None:
        partial = cache + ".partial"
        with open(partial, "wb") as f:
            np.savez(f, values=values, vectors=vectors)
        os.replace(partial, cache)  # a run killed while writing leaves no truncated cache behind
    return values, vectors, "computed"


def worker(solver: str, kind: str, n: int, args) -> dict:
    """One solve in this process: wall and CPU seconds and peak memory of the solve region, then (unless
    ``args.timing_only``: passes after the first) the accuracy of the result."""
    import numpy as np
    import torch

    from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
    from pyg_spectral.metrics import subspace_distance

    torch.set_num_threads(args.threads[0])
    warm_up(solver)
    data = build_graph(kind, n)
    out = {"solver": solver, "graph": kind, "n": data.num_nodes, "edges": data.edge_index.size(1) // 2}
    vecs = solved = None
    c0, t0 = time.process_time(), time.perf_counter()
    with PeakMemory() as mem:
        if solver == "eigsh":
            solved = exact_eigenpairs(data, K + 1, dense_below=0)
            vals, vecs = solved[0][:K], solved[1][:, :K]
            out["converged"] = True
        elif solver == "lobpcg":
            A = symmetric_torch(data)
            gen = torch.Generator().manual_seed(0)
            X = torch.randn(data.num_nodes, K + 8, generator=gen)
            state = {}

            def tracker(lob):  # called once per iteration
                steps, converged = int(lob.ivars["istep"]), int(lob.ivars["converged_count"])
                # torch counts converged pairs in order from the largest of I - L/2: the bottom K of L first
                if converged >= K and "converged_at" not in state:
                    state["converged_at"] = steps
                state.update(steps=steps, converged=converged)

            theta, V = torch.lobpcg(A, X=X, k=K + 8, largest=True, tol=1e-4, niter=args.lobpcg_iters,
                                    tracker=tracker)
            vals, vecs = 2 * (1 - theta[:K].double().numpy()), V[:, :K].double().numpy()
            out.update(steps=state.get("steps"), converged_pairs=state.get("converged"),
                       converged_at=state.get("converged_at"), converged=state.get("converged", 0) >= K + 8)
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
                if solver in ("neural_minibatch_ritz", "neural_minibatch_ritz_start"):
                    kwargs.update(lr=None, encoder_kwargs={"hidden_channels": 64, "head": "ritz",
                                                           "skip": solver == "neural_minibatch_ritz_start"})
                if solver in ("neural_minibatch_sign", "neural_minibatch_ritz", "neural_minibatch_ritz_start"):
                    from pyg_spectral.operators import NormalizedAdjacency

                    adj = NormalizedAdjacency.from_edge_index(data.edge_index, None, data.num_nodes, check=False)
                    data.x = torch.cat([data.x, adj.matvec(data.x)], 1)
                    del adj
                    kwargs.update(max_steps=args.ritz_start_steps if solver == "neural_minibatch_ritz_start"
                                  else args.sign_steps)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = NeuralSpectralEmbedding(K, **kwargs).fit(data)
            vals, vecs = model.eigenvalues_.numpy(), model.embedding_
            out.update(converged=bool(model.converged_), steps=int(model.n_iter_),
                       max_residual=float(model.residuals_.max()))
    # process time: CPU seconds of all this process's threads (the 5 ms memory sampler's share is negligible)
    out.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0, peak_mb=mem.extra_mb)
    if solver == "neural_full":
        out.update(step_cost(model))  # a timing: measured in every pass, reported as medians
    if args.timing_only:
        return out
    if "max_residual" not in out:
        from pyg_spectral.metrics import residual_norms
        from pyg_spectral.operators import build_operator

        op = build_operator("laplacian", data.edge_index, None, data.num_nodes, dtype=torch.float64)
        lap = lambda u: (u - op.matvec(u)) * 2  # L = 2 (I - T)
        out["max_residual"] = float(residual_norms(lap, torch.as_tensor(np.asarray(vecs)), vals).max())
    num_nodes = data.num_nodes
    if num_nodes > args.reference_max:
        return out
    from pyg_spectral.metrics import gap_cutoff

    vecs = np.asarray(vecs, dtype=np.float64)
    if solved is not None or (args.reference_cache is not None and os.path.exists(args.reference_cache)):
        # the comparison holds the reference and orthonormal copies of both bases, [n, K] float64 blocks of
        # 2.6 GB each at n = 1e7, where the graph and the fitted model (~9 GB) beside them had a worker killed
        model = data = None
        gc.collect()
    ref_vals, ref_vecs, out["reference"] = reference_eigenpairs(data, args.reference_cache, solved)
    solved = None
    kk = gap_cutoff(ref_vals, K, 1e-8)  # compare eigenspaces at a gap
    out["compared_modes"] = kk
    out["subspace_distance"] = float(subspace_distance(vecs[:, :kk], ref_vecs[:, :kk]))
    out["max_eig_error"] = float(np.abs(np.asarray(vals) - ref_vals[:K]).max())
    return out


def step_cost(model) -> dict:
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
@dataclass
class Group:
    """The runs on one (graph, requested n): the measurements of the runs that finished, and per
    ``(solver, threads)`` its first failure as ``(pass_index, message)`` (its later passes are skipped)."""

    graph: str
    n: int
    solvers: List[str]
    measurements: List[_timing.Measurement] = field(default_factory=list)
    failures: Dict[Tuple[str, int], Tuple[int, str]] = field(default_factory=dict)

    @property
    def nodes(self) -> int:
        """Nodes of the largest connected component (what the workers solve on), else the requested n."""
        return next((m.extra["n"] for m in self.measurements if "n" in m.extra), self.n)


def worker_command(solver: str, kind: str, n: int, args) -> List[str]:
    """The worker's argv with every option of :data:`WORKER_OPTIONS` (a run adds its threads and pass flags)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", solver, kind, str(n)]
    for dest in WORKER_OPTIONS:
        cmd += ["--" + dest.replace("_", "-"), str(getattr(args, dest))]
    return cmd


def worker_env(args) -> Dict[str, str]:
    """The workers' environment (their thread variables are set per run by ``_timing.measure_subprocess``)."""
    env = dict(os.environ)
    if args.malloc_mmap_threshold:
        # glibc raises its mmap threshold after large frees and then keeps freed blocks on the heap, which
        # inflates RSS of any code that allocates and frees [n, k] arrays in a loop. The same setting
        # applies to every solver.
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
    return env


def failure_message(exc: RuntimeError) -> str:
    """``exited CODE: <last line of stderr>`` from ``_timing.measure_subprocess``'s error."""
    head, _, stderr = str(exc).partition("\n")
    last = stderr.strip().splitlines()[-1:]
    text = "exited " + head.rsplit(" exited ", 1)[-1].rstrip(":") + (f": {last[0]}" if last else "")
    return text[:160].replace("|", "/")  # one markdown table cell


def run_group(group: Group, args, after_run=None) -> None:
    """Every (solver, threads) of ``group`` in a fresh worker process, round-robin over ``args.passes``; each
    run logged as a JSON line, then ``after_run()``."""
    env = worker_env(args)
    jobs = [_timing.Job(s, command=worker_command(s, group.graph, group.n, args), env=env) for s in group.solvers]
    with tempfile.TemporaryDirectory(prefix="scale_reference_") as tmp:
        cache = os.path.join(tmp, "reference.npz")
        for p, job, t in _timing.schedule(jobs, args.threads, args.passes):
            if (job.name, t) in group.failures:
                continue  # a failed or timed-out run would most likely fail again: spare the machine
            # pass 1 measures accuracy (its runs share one reference eigsh through the cache); later passes time
            flags = ["--reference-cache", cache] if p == 0 else ["--timing-only"]
            log = {"graph": group.graph, "requested_n": group.n}
            try:
                # torch, OpenMP and BLAS threads set together: ARPACK's BLAS otherwise takes every core it sees
                m = _timing.measure_subprocess(job.name, [*job.command, "--threads", str(t), *flags], t, p,
                                               env=job.env, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                error = f"timeout after {args.timeout} s"
            except RuntimeError as exc:
                error = failure_message(exc)
            else:
                group.measurements.append(m)
                log.update(_timing.as_dict(m))
                error = None
            if error is not None:
                group.failures[job.name, t] = (p, error)
                log.update(job=job.name, threads=t, pass_index=p, error=error)
            print(json.dumps(log), flush=True)
            if after_run is not None:
                after_run()


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


RUN_HEADER = ["graph", "n", "solver", "threads", "passes", "wall s (median)", "fastest-slowest s", "CPU s (median)",
              "peak MB (median)", "load at start (median)", "max residual", "subspace dist", "max eig err", "steps",
              "converged"]
BEST_HEADER = ["solver", "threads", "wall s", "peak MB", "subspace dist", "x eigsh time", "x eigsh memory"]


def tables(group: Group, args):
    """``(run rows, failure notes, best-setting rows, step-cost rows, best summaries)`` of one group."""
    summaries = {(s.job, s.threads): s for s in _timing.summarize(group.measurements)}
    best = _timing.best_settings(list(summaries.values()))
    accuracy = {(m.job, m.threads): m.extra for m in group.measurements if m.pass_index == 0}
    runs, notes, costs = [], [], []
    for solver in group.solvers:
        for t in args.threads:
            s, failure = summaries.get((solver, t)), group.failures.get((solver, t))
            lead = [group.graph, str(group.nodes), solver]
            if s is None:
                if failure is not None:  # (else: not run yet)
                    runs.append(lead + [str(t), f"0/{args.passes}", failure[1]] + ["-"] * (len(RUN_HEADER) - 6))
                continue
            if failure is not None:
                notes.append(f"{solver} at {t} thread(s), pass {failure[0] + 1}: {failure[1]}")
            acc = accuracy.get((solver, t), {})
            steps = str(acc.get("steps", "-"))
            if acc.get("converged_at") is not None:
                steps += f" ({K} pairs at {acc['converged_at']})"
            converged = str(acc.get("converged", "-"))
            if acc.get("converged_pairs") is not None:
                converged += f" ({acc['converged_pairs']}/{K + 8} pairs)"
            runs.append(lead + [
                f"{t} (best)" if best[solver].threads == t else str(t), f"{s.passes}/{args.passes}",
                f"{s.wall_s:.2f}", f"{s.wall_min:.2f}-{s.wall_max:.2f}", f"{s.cpu_s:.2f}",
                fmt(s.extra.get("peak_mb"), ".0f"), fmt(s.load_1min, ".2f"), fmt(acc.get("max_residual"), ".1e"),
                fmt(acc.get("subspace_distance"), ".1e"), fmt(acc.get("max_eig_error"), ".1e"), steps, converged])
            if "step_ratio" in s.extra:
                costs.append([group.graph, str(group.nodes), str(t), f"{s.extra['step_s']:.4f}",
                              f"{s.extra['matmul_gram_s']:.4f}", f"{s.extra['step_ratio']:.2f}"])
    anchor = best.get("eigsh")
    anchor_mb = None if anchor is None else anchor.extra.get("peak_mb")
    best_rows = []
    for solver in group.solvers:
        b = best.get(solver)
        if b is None:
            continue
        mb = b.extra.get("peak_mb")
        best_rows.append([solver, str(b.threads), f"{b.wall_s:.2f}", fmt(mb, ".0f"),
                          fmt(accuracy.get((solver, b.threads), {}).get("subspace_distance"), ".1e"),
                          "-" if anchor is None else f"{b.wall_s / anchor.wall_s:.2f}x",
                          f"{mb / anchor_mb:.2f}x" if mb is not None and anchor_mb else "-"])
    return runs, notes, best_rows, costs, best


def write_report(groups: List[Group], args, meta: dict, path: Path):
    """The markdown report of the runs so far (rewritten after every run: a crash keeps what finished)."""
    import torch

    from _common import markdown_table

    runs, notes, costs, sections = [], [], [], []
    for group in groups:
        r, nt, b, c, best = tables(group, args)
        runs += r
        notes += nt
        costs += c
        if b:
            missing = "" if "eigsh" in best else "\n\neigsh did not finish on this graph: no ratios."
            sections.append(f"### {group.graph}, n = {group.nodes}\n\n{markdown_table(BEST_HEADER, b)}{missing}")
    try:
        import torch_scatter  # noqa: F401

        scatter = "installed"
    except ImportError:
        scatter = "not installed"
    if args.malloc_mmap_threshold:
        malloc = (f"Every worker runs with `MALLOC_MMAP_THRESHOLD_={args.malloc_mmap_threshold}` (glibc otherwise "
                  "keeps freed [n, k] blocks on its heap after raising its mmap threshold, and RSS overstates live "
                  "memory several-fold; we measured 1.28 GB vs ~0.1 GB live for neural_full at n = 1e5).")
    else:
        malloc = ("Workers run with glibc's default mmap threshold (`--malloc-mmap-threshold 0`): peak MB may "
                  "overstate live memory several-fold (freed [n, k] blocks kept on the heap).")
    threads = " and ".join(map(str, args.threads))
    failed = "" if not notes else "\n\nRuns that failed after earlier passes had finished (their rows: the " \
                                   "finished passes):\n\n" + "\n".join(f"* {x}" for x in notes)
    cost_table = (markdown_table(["graph", "n", "threads", "step s", "matmul + Gram s", "ratio"], costs) if costs
                  else "(no neural_full runs)")
    text = f"""# Scale benchmark: k = {K} bottom Laplacian eigenpairs

Reproduce: `.venv/bin/python benchmarks/scale.py {meta['command']}` (after `make install`).

Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {(time.time() - meta['started']) / 60:.1f} min of runs;
1-minute load average {meta['load']:.2f} when the run started (each row: the median at its runs' start).
Device: CPU only ({platform.processor() or platform.machine()}, {os.cpu_count()} cores; no GPU numbers);
torch {torch.__version__}; torch-scatter {scatter}. {malloc}

Timing (`benchmarks/_timing.py`): for each (graph, n), every (solver, threads) pair runs in a fresh process at
{threads} thread(s) (torch, OpenMP and BLAS set together), the pairs interleaved round-robin over {args.passes}
pass(es) so that all see the same drift of the machine; the table gives medians over the passes. "wall s" is
the solve (for neural: graph -> operator -> training -> final Rayleigh-Ritz; not the process start-up, a warm-up
solve on a 144-node grid or building the graph), "CPU s" its process time (all threads: up to threads x wall),
"peak MB" the peak resident memory above the process's level before the solve (sampled every 5 ms), "load at
start" the 1-minute load average as the run started. "(best)" marks each solver's faster thread setting (lower
median wall time; a tie goes to fewer threads). A run that fails or times out (`--timeout {args.timeout}` s per
run, start-up included) is not repeated in later passes; "passes" counts the runs that finished.

Accuracy columns (max residual, subspace dist, max eig err, steps, converged) come from each row's pass-1 run:
every solver starts from a fixed seed (the neural ones from the estimator's default seed=0), and the thread
count changes only the order of floating-point sums. Subspace distance and eigenvalue error are against eigsh
(tol=0) where n <= {args.reference_max}, computed once per (graph, n) outside the timed regions and cached for
the other runs; the distance compares the first k' <= {K} modes up to the last spectral gap > 1e-8 (k' in the
JSON log).

Settings: eigsh tol=0; lobpcg (torch.lobpcg, float32) and scipy_lobpcg (float64): tol=1e-4, block of {K + 8},
at most {args.lobpcg_iters} iterations (lobpcg's steps: iterations run, and the one at which the bottom {K} pairs
had converged; converged: pairs of the block within tol); neural_full: defaults, tol=1e-3, at most
{args.full_steps} steps; krylov: defaults, tol=1e-3; neural_minibatch: MLP (64 hidden, linear head), batch 1024,
Adam 3e-3, {args.minibatch_steps} steps; neural_minibatch_sign: the same on [x, D^-1/2 A D^-1/2 x],
{args.sign_steps} steps; neural_minibatch_ritz: the same inputs, solved (Ritz) head, default learning rate,
{args.sign_steps} steps; neural_minibatch_ritz_start: that with the MLP's Ritz start (a linear skip at
Rayleigh–Ritz on the inputs' span, moments in node chunks), {args.ritz_start_steps} steps. Above n = {args.big} only sbm runs, without lobpcg and scipy_lobpcg.

## Runs

{markdown_table(RUN_HEADER, runs)}{failed}

## Each solver at its best thread setting

"x eigsh time" and "x eigsh memory": the solver's median wall seconds and peak MB at its best setting over
eigsh's at eigsh's best setting (by time) on the same graph.

{(chr(10) * 2).join(sections) if sections else "(no finished runs)"}

## Cost of one full-batch step

One step of the embedding-table trainer (forward, one sparse matmul under no_grad, custom-gradient loss,
backward, heavy-ball update) against one sparse matmul plus one Gram product of the same [n, k+p] sizes
(medians over the passes). Goal: ratio <= 3.

{cost_table}
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def plot(groups: List[Group], path: Path):
    """Time and memory against n, each solver at its best thread setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(g.graph, g.nodes, s) for g in groups
              for s in _timing.best_settings(_timing.summarize(g.measurements)).values()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for graph, ls in (("sbm", "-"), ("rgg", "--")):
        for solver in SOLVERS:
            pts = sorted((n, s.wall_s, s.extra.get("peak_mb", 0.0)) for g, n, s in points
                         if g == graph and s.job == solver)
            if not pts:
                continue
            ns, ts, ms = zip(*pts)
            axes[0].loglog(ns, ts, ls, marker="o", label=f"{solver} ({graph})")
            axes[1].loglog(ns, [max(m, 1) for m in ms], ls, marker="o", label=f"{solver} ({graph})")
    axes[0].set(xlabel="nodes", ylabel="seconds (median)", title="time to solve, best thread setting")
    axes[1].set(xlabel="nodes", ylabel="peak MB above baseline", title="memory at that setting")
    if axes[0].lines:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)  # redrawn after every (graph, n): open figures would pile up


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("SOLVER", "GRAPH", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--timing-only", action="store_true", help=argparse.SUPPRESS)  # worker: no accuracy
    parser.add_argument("--reference-cache", help=argparse.SUPPRESS)  # worker: see reference_eigenpairs
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--graphs", nargs="+", default=["sbm", "rgg"], choices=["sbm", "rgg"])
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts (torch, OpenMP, BLAS set together), each solver run at every one")
    parser.add_argument("--passes", type=int, default=3, help="interleaved passes per (solver, threads); medians")
    parser.add_argument("--lobpcg-iters", type=int, default=300)
    parser.add_argument("--full-steps", type=int, default=3000)
    parser.add_argument("--minibatch-steps", type=int, default=1000)
    parser.add_argument("--sign-steps", type=int, default=2000)
    parser.add_argument("--ritz-start-steps", type=int, default=250)
    parser.add_argument("--big", type=int, default=500_000,
                        help="above this size run only the sbm graph and skip lobpcg")
    parser.add_argument("--reference-max", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=1200,
                        help="seconds per run (one solver at one thread setting in one pass, start-up included)")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=65536,
                        help="MALLOC_MMAP_THRESHOLD_ for every worker (0: leave glibc's default)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        if len(args.threads) != 1:
            parser.error("a worker runs at one --threads value")
        solver, kind, n = args.worker
        record = worker(solver, kind, int(n), args)
        _timing.emit(record.pop("wall_s"), record.pop("cpu_s"), **record)
        return 0
    meta = {"command": shlex.join(argv), "started": time.time(), "load": os.getloadavg()[0]}
    output, groups = Path(args.output), []
    for n in args.sizes:
        for kind in args.graphs:
            if n > args.big and kind != "sbm":
                continue
            solvers = [s for s in args.solvers if n <= args.big or s not in ITERATIVE]
            if solvers:
                groups.append(Group(kind, n, solvers))
                run_group(groups[-1], args, after_run=lambda: write_report(groups, args, meta, output))
                plot(groups, output.with_suffix(".png"))  # once its best settings are known
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
