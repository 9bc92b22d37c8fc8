"""Encoders against the exact eigenpairs: embedding table (the reference), Krylov-RR, MLP (on the features, or on
propagated inputs: ``mlp_propagated``), GCN, SAGE, GIN (on the features and noise, or on propagated inputs:
``gcn_propagated``, ``sage_propagated``, ``gin_propagated``).

Full batch, library defaults (``tol=1e-4``), except that the networks get a bounded ``--net-steps`` (what they
reach is reported; they do not meet ``tol``). Per graph (Cora LCC and CiteSeer LCC with features;
ego-Facebook and PubMed LCC structure only) and ``k``: max eigenvalue error, subspace distance, min per-mode
cosine (degenerate blocks aligned), steps (depth for Krylov), wall and CPU seconds of ``fit`` and the peak
RSS of the process. Each run is a fresh subprocess (so the peak RSS is that run's; it includes the graph and
the imports), solvers interleaved, median of ``--passes`` passes. Then unseen nodes: fit on the LCC of a
random 80% of the nodes (global ids kept), transform the full graph, subspace distance to the full graph's
exact eigenvectors, against the one-hop extension of the subgraph's exact eigenvectors.

Run::

    PYTHONPATH=. .venv/bin/python benchmarks/encoders.py --threads 1 2 --solvers embedding krylov
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NETWORKS = ("mlp", "mlp_propagated", "gcn", "sage", "gin", "gcn_propagated", "sage_propagated", "gin_propagated")
SOLVERS = {name: {} for name in ("embedding", "krylov") + NETWORKS}
#: solvers that are an encoder with non-default inputs: ``mlp_propagated`` is ``encoder="mlp"`` on
#: ``encoder_kwargs["inputs"] = "propagated"`` (it runs on graphs without features too), and so for the GNNs
KEEP_START = {"auto": None, "true": True, "false": False}
INPUTS = {f"{net}_propagated": (net, "propagated") for net in ("mlp", "gcn", "sage", "gin")}


def solver_kwargs(solver: str, net_steps: int, batch_size: int = 0, head: Optional[str] = None,
                  keep_start: Optional[bool] = None) -> dict:
    """The estimator's keywords for ``solver``: its encoder and, for networks, the step cap, the inputs, head
    and ``keep_start`` (``encoder_kwargs``; ``None``: the library's default) and the sampler (node batches for an
    MLP, neighbor-sampled subgraphs for GNNs).

    >>> solver_kwargs("mlp_propagated", 100, batch_size=256)
    {'encoder': 'mlp', 'max_steps': 100, 'encoder_kwargs': {'inputs': 'propagated'}, 'batch_size': 256, 'sampler': 'node'}
    >>> solver_kwargs("sage_propagated", 100, batch_size=256, keep_start=False)["encoder_kwargs"]
    {'inputs': 'propagated', 'keep_start': False}
    """
    encoder, inputs = INPUTS.get(solver, (solver, None))
    kwargs = {"encoder": encoder}
    if solver in NETWORKS:
        encoder_kwargs = {**({"head": head} if head else {}), **({"inputs": inputs} if inputs else {}),
                          **({"keep_start": keep_start} if keep_start is not None else {})}
        kwargs.update(max_steps=net_steps, encoder_kwargs=encoder_kwargs or None)
        if batch_size:
            kwargs.update(batch_size=batch_size, sampler="node" if encoder == "mlp" else "neighbor")
    return kwargs


def load(name: str):
    from torch_geometric.transforms import LargestConnectedComponents

    from pyg_spectral.datasets import load_planetoid, read_edge_list

    if name in ("Cora", "CiteSeer"):
        data = load_planetoid(name)[0]
    elif name == "Facebook":
        data = read_edge_list(DATA / "snap" / "ego-facebook.txt.gz")
    elif name == "PubMed":
        data = read_edge_list(DATA / "pubmed-graph" / "edges.csv.gz")
    else:
        raise ValueError(name)
    return LargestConnectedComponents()(data)


def child(args) -> None:
    """One fit in this process; prints a JSON line and saves the embedding."""
    from pyg_spectral import NeuralSpectralEmbedding

    torch.set_num_threads(args.threads)
    data = load(args.graph)
    est = NeuralSpectralEmbedding(args.k, progress=False, seed=args.seed,
                                  **solver_kwargs(args.solver, args.net_steps, args.batch_size, args.head,
                                                  KEEP_START[args.keep_start]))
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(data)
    wall, cpu1 = time.perf_counter() - wall0, resource.getrusage(resource.RUSAGE_SELF)
    np.save(args.out, est.embedding_.double().numpy())
    print(json.dumps({"steps": est.n_iter_, "wall": wall, "converged": bool(est.converged_),
                      "cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "eigenvalues": est.eigenvalues_.tolist()}))


def run_child(graph, solver, k, threads, net_steps, seed=0, batch_size=0, head="auto", keep_start="auto"):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "u.npy")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP workers sleep: see results/omp_wait_policy.md
        proc = subprocess.run([sys.executable, __file__, "--child", "--graph", graph, "--solver", solver,
                               "--k", str(k), "--threads", str(threads), "--net-steps", str(net_steps),
                               "--seed", str(seed), "--out", out, "--batch-size", str(batch_size),
                               "--head", head, "--keep-start", keep_start], capture_output=True, text=True, env=env)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-2000:])
        rec = json.loads(proc.stdout.strip().splitlines()[-1])
        rec["u"] = np.load(out)
    return rec


def unseen(graph, k, threads, solver="krylov", net_steps=1000, batch_size=0, seed=0):
    from torch_geometric.transforms import LargestConnectedComponents

    from pyg_spectral import NeuralSpectralEmbedding, exact_eigenpairs
    from pyg_spectral.metrics import subspace_distance

    torch.set_num_threads(threads)
    data = load(graph)
    n = data.num_nodes
    _, vec = exact_eigenpairs(data, k)
    mask = torch.rand(n, generator=torch.Generator().manual_seed(0)) < 0.8
    part = data.subgraph(mask)
    part.n_id = torch.arange(n)[mask]
    part = LargestConnectedComponents()(part)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralSpectralEmbedding(k, progress=False, seed=seed,
                                      **solver_kwargs(solver, net_steps, batch_size)).fit(part)
    wall = time.perf_counter() - t
    full = est.transform(data)
    ours = subspace_distance(full, vec)
    _, sub_vec = exact_eigenpairs(part, k)
    # seen nodes: their rows of the full graph's embedding against the fitted ones (0: unchanged span)
    shift = subspace_distance(full[part.n_id].double().numpy(), est.embedding_.double().numpy())
    from pyg_spectral.exact import one_hop_extension

    base = subspace_distance(one_hop_extension(sub_vec, part.n_id.numpy(), data.edge_index, n), vec)
    return {"graph": graph, "k": k, "n_sub": part.num_nodes, "n": n, "depth": est.n_iter_, "ours": ours,
            "one_hop": base, "wall": wall, "seen_shift": shift}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--graph"), parser.add_argument("--solver"), parser.add_argument("--out")
    parser.add_argument("--k", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--seed", type=int, default=0, help="seed of every fit (noise, initialisation, batches)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts (torch, OpenMP, BLAS set together), interleaved within each pass")
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--net-steps", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=3, help="passes of the table and Krylov (median)")
    parser.add_argument("--net-passes", type=int, default=1,
                        help="passes of the networks (median; they run in the first ones of --passes)")
    parser.add_argument("--graphs", nargs="+", default=["Cora", "CiteSeer", "Facebook", "PubMed"])
    parser.add_argument("--net-graphs", nargs="+", default=["Cora", "CiteSeer"],
                        help="graphs on which the networks run (they are slow)")
    parser.add_argument("--net-k", type=int, nargs="+", default=[16], help="k for which the networks run")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="networks on mini-batches of this many nodes (0: full batch)")
    parser.add_argument("--heads", nargs="+", default=["auto"], choices=["auto", "ritz", "linear"],
                        help="networks' heads (encoder_kwargs['head']); each is a row")
    parser.add_argument("--head", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--keep-start", default="auto", choices=list(KEEP_START),
                        help="networks with a Ritz-started skip: keep the start as extra columns of the solved head's "
                             "basis (encoder_kwargs['keep_start']; auto: the library's default, on with mini-batches)")
    parser.add_argument("--unseen-graphs", nargs="*", default=["Cora", "CiteSeer", "PubMed"])
    parser.add_argument("--unseen-solver", default="krylov", choices=["krylov", *NETWORKS],
                        help="encoder fitted on the subgraph (networks: --net-steps, --batch-size)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "encoders.md"))
    args = parser.parse_args()
    if args.child:
        args.k, args.threads = args.k[0], args.threads[0]
        return child(args)

    from pyg_spectral import exact_eigenpairs
    from pyg_spectral.metrics import eigenvalue_error, mode_cosines, subspace_distance

    cmd = "PYTHONPATH=. .venv/bin/python benchmarks/encoders.py " + " ".join(sys.argv[1:])
    threads = args.threads
    lines = ["# Encoders vs exact eigenpairs", "", "Command: `" + cmd + "`", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at start "
             f"{os.getloadavg()[0]:.2f}. Threads: {threads} (torch, OpenMP and BLAS set together in each fit's "
             f"process; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}), interleaved within each pass. "
             + (f"Networks on mini-batches of {args.batch_size} nodes (MLP: sampler='node'; GNNs: "
                "sampler='neighbor', default fan-outs), the table in full batch; " if args.batch_size else
                "Full batch; ") + "library defaults (tol 1e-4); networks capped at "
             f"max_steps={args.net_steps} and run on {', '.join(args.net_graphs)} with k in {args.net_k} only "
             f"(time). Table and Krylov: median of {args.passes} interleaved passes; networks: "
             + (f"median of {min(args.net_passes, args.passes)} of them" if args.net_passes > 1 else "one pass")
             + ". Peak RSS: "
             f"the fit's process (graph, imports included). Fit seed {args.seed}; keep_start {args.keep_start}. Steps: Krylov's Chebyshev depth. "
             "`x table`: wall time "
             "over the embedding table's at its best thread count on the same graph and k.", "",
             "| graph | n | k | solver | threads | max eig err | subspace dist | min mode cos | steps | conv | "
             "wall s | CPU s | peak RSS MB | x table |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for graph in args.graphs:
        data = load(graph)
        for k in args.k:
            lam, vec = exact_eigenpairs(data, k)
            solvers = [s for s in args.solvers  # (an MLP needs features: none on structure-only graphs)
                       if s not in NETWORKS or (graph in args.net_graphs and k in args.net_k
                                                and (s != "mlp" or getattr(data, "x", None) is not None))]
            runs = [(s, t, h) for s in solvers for t in threads for h in (args.heads if s in NETWORKS else ["-"])]
            recs = {run: [] for run in runs}
            for p in range(args.passes):
                for s, t, h in runs:
                    if s in NETWORKS and p >= args.net_passes:
                        continue
                    rec = run_child(graph, s, k, t, args.net_steps, seed=args.seed, batch_size=args.batch_size,
                                    head=h if s in NETWORKS else "auto", keep_start=args.keep_start)
                    u = rec.pop("u")
                    rec.update(eig=float(eigenvalue_error(np.array(rec["eigenvalues"]), lam).max()),
                               dist=subspace_distance(u, vec), cos=float(mode_cosines(u, vec, lam).min()))
                    recs[(s, t, h)].append(rec)
                    print(graph, k, s, t, h, {key: rec[key] for key in ("eig", "dist", "steps", "wall")}, flush=True)
            med = {run: {key: float(np.median([r[key] for r in recs[run]]))
                         for key in ("eig", "dist", "cos", "wall", "cpu", "rss_mb")} for run in runs}
            table = min((med[run]["wall"] for run in runs if run[0] == "embedding"), default=float("nan"))
            for run in runs:
                m, last = med[run], recs[run][-1]
                label = run[0] if run[2] == "-" else f"{run[0]} (head {run[2]})"
                lines.append(f"| {graph} | {data.num_nodes} | {k} | {label} | {run[1]} | {m['eig']:.1e} | "
                             f"{m['dist']:.1e} | {m['cos']:.4f} | {last['steps']} | {last['converged']} | "
                             f"{m['wall']:.2f} | {m['cpu']:.2f} | {m['rss_mb']:.0f} | {m['wall'] / table:.1f} |")
            Path(args.output).write_text("\n".join(lines) + "\n")
    lines += ["", f"## Unseen nodes ({args.unseen_solver}, k=16)", "",
              "Fit on the LCC of a random 80% of the nodes (seed 0; global ids kept as `data.n_id`), transform the "
              "full graph with the same head; subspace distance to the full graph's exact eigenvectors. Baseline: "
              "the subgraph's exact eigenvectors, each unseen node given the mean over its seen neighbours. Seen "
              "shift: subspace distance between the seen nodes' rows of the full graph's embedding and their "
              "fitted rows.", "",
              "| graph | n sub / n | steps | dist | one-hop dist | seen shift | fit wall s |",
              "|---|---|---|---|---|---|---|"]
    for graph in args.unseen_graphs:
        r = unseen(graph, 16, threads[0], args.unseen_solver, args.net_steps, args.batch_size, args.seed)
        print(r, flush=True)
        lines.append(f"| {graph} | {r['n_sub']} / {r['n']} | {r['depth']} | {r['ours']:.3f} | {r['one_hop']:.3f} |"
                     f" {r['seen_shift']:.3f} | {r['wall']:.2f} |")
        Path(args.output).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
