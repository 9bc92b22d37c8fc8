"""Exactness table: learned eigenpairs vs exact ones on real and closed-form graphs.

For each graph and k, fits :class:`pyg_spectral.NeuralSpectralEmbedding` with
its defaults (NestedLoRA, joint nesting, embedding table) and a few variants,
computes the reference with ``scipy.sparse.linalg.eigsh`` (closed forms where
they exist), and reports eigenvalue error, subspace distance at a spectral gap,
minimum per-mode cosine, residuals, steps and wall time of both.

The bar (core issue): max |eigenvalue error| <= 1e-3 and subspace distance
<= 1e-2. A second table gives time-to-accuracy on Cora LCC, k = 32, for a
ladder of residual tolerances, against eigsh, and the plain prototype
(Adam, no guard functions, no Rayleigh-Ritz) that motivated the engineering.

Run::

    .venv/bin/python benchmarks/exactness.py            # writes benchmarks/results/exactness.md
    .venv/bin/python benchmarks/exactness.py --quick    # two graphs, for a smoke test
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import torch
import torch_geometric
from torch_geometric.transforms import LargestConnectedComponents

import pyg_spectral
from pyg_spectral import ConvergenceWarning, NeuralSpectralEmbedding, exact_eigenpairs
from pyg_spectral.datasets import (cycle_graph, grid_graph, laplacian_spectrum, load_planetoid, path_graph,
                                   read_edge_list)
from pyg_spectral.metrics import gap_cutoff, mode_cosines, subspace_distance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, markdown_table, real_graphs, timed_exact, write_report  # noqa: E402
EIG_TOL, SUBSPACE_TOL = 1e-3, 1e-2


def graphs(quick: bool):
    for name, data in real_graphs(["Cora LCC"] if quick else ["Cora LCC", "CiteSeer LCC", "ego-Facebook"]):
        yield name, data, None
    if not quick:
        yield "path (n=200)", path_graph(200), laplacian_spectrum("path", 200)
        yield "cycle (n=100)", cycle_graph(100), laplacian_spectrum("cycle", 100)
        yield "grid 20x20", grid_graph(20, 20), None
    yield "torus 16x16", grid_graph(16, 16, periodic=True), laplacian_spectrum("torus", 16, 16)


VARIANTS = {
    "NestedLoRA joint": {},
    "NestedLoRA sequential": {"nesting": "sequential"},
    "NestedOMM order 1": {"loss": "nested_omm", "loss_kwargs": {"order": "1"}},
    "NestedOMM order 1+2": {"loss": "nested_omm", "loss_kwargs": {"order": "1+2"}},
}


def row(name, data, closed, k, label, kwargs):
    vals, vecs, t_eigsh = timed_exact(data, k + 1)
    if closed is not None:
        assert np.abs(vals - closed[: k + 1]).max() < 1e-8, "eigsh disagrees with the closed form"
        vals = closed[: k + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NeuralSpectralEmbedding(k, progress=False, **kwargs).fit(data)
    learned = model.eigenvalues_.numpy()
    kk = gap_cutoff(vals, k, 1e-8)
    err = float(np.abs(learned - vals[:k]).max())
    sd = subspace_distance(model.embedding_[:, :kk], vecs[:, :kk])
    cos = float(mode_cosines(model.embedding_[:, :kk], vecs[:, :kk], vals[:kk], tol=1e-8).min())
    ok = err <= EIG_TOL and sd <= SUBSPACE_TOL
    return [name, str(data.num_nodes), str(k), label, f"{err:.1e}", f"{sd:.1e} ({kk})", f"{cos:.6f}",
            f"{float(model.residuals_.max()):.1e}", str(model.n_iter_), f"{model.fit_time_:.2f}",
            f"{t_eigsh:.2f}", "yes" if ok else "**no**"], ok


def time_to_accuracy(data, k=32):
    vals, vecs, t_eigsh = timed_exact(data, k + 1)
    kk = gap_cutoff(vals, k, 1e-8)
    rows = [["scipy eigsh (which='LA', tol=0)", "-", f"{t_eigsh:.2f}", "0 (reference)", "-"]]
    for tol in (1e-2, 1e-3, 1e-4, 1e-6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = NeuralSpectralEmbedding(k, tol=tol, progress=False).fit(data)
        sd = subspace_distance(model.embedding_[:, :kk], vecs[:, :kk])
        err = float(np.abs(model.eigenvalues_.numpy() - vals[:k]).max())
        rows.append([f"NeuralSpectralEmbedding(tol={tol:g})", str(model.n_iter_), f"{model.fit_time_:.2f}",
                     f"{sd:.1e}", f"{err:.1e}"])
    # Closest to the plain prototype: Adam lr 1e-2 on (I+Â)/2, no guard functions, raw
    # nesting order (no final Rayleigh-Ritz), 3000 steps. It keeps the measure-scaled table and its
    # Ritz initialisation, which the prototype did not have.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = NeuralSpectralEmbedding(k, operator="lazy_adjacency", optimizer="adam", lr=1e-2, n_oversamples=0,
                                        rayleigh_ritz=False, max_steps=3000, tol=0.0, progress=False).fit(data)
    lvals, lvecs = exact_eigenpairs(data, k + 1, "lazy_adjacency", dense_below=0)
    lk = gap_cutoff(lvals, k, 1e-8)
    sd = subspace_distance(plain.embedding_[:, :lk], lvecs[:, :lk])
    err = float(np.abs(plain.eigenvalues_.numpy() - lvals[:k]).max())
    rows.append(["plain: Adam 1e-2, p=0, no Rayleigh-Ritz, (I+Â)/2", str(plain.n_iter_), f"{plain.fit_time_:.2f}",
                 f"{sd:.1e}", f"{err:.1e}"])
    return rows, kk


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Cora LCC and the torus only, k=16, defaults only")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "exactness.md"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    ks = (16,) if args.quick else (16, 32)
    variants = {"NestedLoRA joint": {}} if args.quick else VARIANTS
    rows, all_ok = [], True
    for name, data, closed in graphs(args.quick):
        for k in ks:
            for label, kwargs in variants.items():
                if label != "NestedLoRA joint" and name not in ("Cora LCC", "grid 20x20"):
                    continue
                r, ok = row(name, data, closed, k, label, kwargs)
                all_ok &= ok
                rows.append(r)
                print(" | ".join(r), flush=True)

    cora = LargestConnectedComponents()(load_planetoid("Cora")[0])
    tta, kk = time_to_accuracy(cora)
    for r in tta:
        print(" | ".join(r), flush=True)

    header = ["graph", "n", "k", "method", "max abs eig err", "subspace dist (modes)", "min mode cos",
              "max residual", "steps", "neural s", "eigsh s", "meets bar"]
    command = "python benchmarks/exactness.py" + (" --quick" if args.quick else "")
    text = f"""# Exactness: learned vs exact eigenpairs (normalized Laplacian)

Reproduce: `.venv/bin/{command}` (after `make install`).

Machine: {platform.processor() or platform.machine()}, {args.threads} torch threads, CPU only;
torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, scipy {scipy.__version__},
pyg_spectral {pyg_spectral.__version__}. Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.

Defaults: embedding-table encoder, heavy-ball SGD (lr 0.2, momentum 0.9), k + max(8, k/2) learned functions,
Rayleigh-Ritz every 25 steps, stop when every residual ||Lu - λu|| <= 1e-4. Reference: `scipy.sparse.linalg.eigsh`
(closed forms for path, cycle and torus, checked against eigsh). Subspace distance = 1 - mean cos² of the
principal angles between the first k' learned and exact vectors, k' (in parentheses) the largest k' <= k at a
spectral gap > 1e-8. "min mode cos": smallest |cos| between a learned and an exact eigenvector among the first k', aligned
inside degenerate eigenvalue blocks. Bar: max |eigenvalue error| <= {EIG_TOL:g} and subspace distance <= {SUBSPACE_TOL:g}.

{markdown_table(header, rows)}

All rows meet the bar: **{'yes' if all_ok else 'no'}**.

## Time to accuracy, Cora LCC (2485 nodes), k = 32

Subspace distance over the first {kk} modes; eigsh time includes building nothing but the call itself
(operator assembly is shared and small). The last row is close to the plain prototype of the issue (Adam lr 1e-2
on (I+Â)/2, no guard functions, no final Rayleigh-Ritz; eigenvalues are Rayleigh quotients of the raw nested
functions), compared against eigsh of (I+Â)/2. Unlike the prototype (subspace distance 0.48 after 3000 steps,
~20 s) it keeps the measure-scaled table and its Ritz initialisation.

{markdown_table(["solver", "steps", "seconds", "subspace dist", "max abs eig err"], tta)}
"""
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(out, text)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
