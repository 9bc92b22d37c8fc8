"""``pyg-spectral embed INPUT --k K --output OUT``: learn k eigenpairs of one graph and save them."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ..utils.io import atomic_save
from ..version import __version__
from .common import CLIError, fit_reporting_warnings
from .io import largest_component, load_graph

__all__ = ["DESCRIPTION", "OPERATORS", "add_arguments", "run", "eigenvalues_path"]

OPERATORS = ["laplacian", "adjacency", "lazy_adjacency", "random_walk"]

DESCRIPTION = """\
Learn k eigenpairs of a graph operator and save them.

INPUT is an edge list (.txt/.csv/.tsv/.edges, optionally .gz; "u v" or "u,v" lines, '#' comments,
optional weight column; read as listed, so an edge list with each edge once needs --symmetrize), a
saved PyG Data (torch.save; .pt/.pth) or a .npz holding edge_index ([2, E], integers) and optionally
edge_weight and num_nodes. Repeated edges are summed.

OUT is .pt (a dict with eigenvectors, eigenvalues, residuals and the settings) or .npy ([n, k]
eigenvectors; the eigenvalues go beside it in STEM.eigenvalues.npy: -o ev.npy writes ev.npy and
ev.eigenvalues.npy). Files are written to a temporary name and renamed, so an interrupted run leaves
no partial output. Errors are one line on stderr with exit status 2 (bad input) or 1 (failure).
"""


def eigenvalues_path(out: Path) -> Path:
    """Where ``-o STEM.npy`` puts the eigenvalues: ``STEM.eigenvalues.npy``."""
    return out.with_suffix(".eigenvalues.npy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="edge list (.txt/.csv/.tsv/.edges[.gz]), saved PyG Data (.pt) or .npz")
    p.add_argument("--k", type=int, required=True, help="number of eigenpairs")
    p.add_argument("--output", "-o", required=True,
                   help="output file: .pt, or .npy (eigenvalues then go to STEM.eigenvalues.npy)")
    p.add_argument("--operator", default="laplacian", choices=OPERATORS, help="graph operator")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--max-steps", type=int, default=10000, help="most optimisation steps")
    p.add_argument("--tol", type=float, default=1e-4, help="stop when every residual is below this")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch training (default: full batch)")
    p.add_argument("--symmetrize", action="store_true",
                   help="accept a directed graph (an edge list with each edge once) and use A + A^T")
    p.add_argument("--lcc", action="store_true", help="keep only the largest connected component")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # np.save(path) would append ".npy" to the temporary name
        np.save(fh, array)


def run(args: argparse.Namespace) -> int:
    from ..estimator import NeuralSpectralEmbedding
    from ..exceptions import GraphInputError

    out = Path(args.output)
    if out.suffix not in (".pt", ".npy"):
        raise CLIError(f"--output must end in .pt or .npy, got {out.name}")
    sidecar = eigenvalues_path(out) if out.suffix == ".npy" else None
    for target in filter(None, [out, sidecar]):
        if target.exists() and not args.force:
            raise CLIError(f"{target} exists; pass --force to overwrite")
    data = load_graph(Path(args.input))
    if args.lcc:
        data = largest_component(data)
    model = NeuralSpectralEmbedding(
        args.k, operator=args.operator, device=args.device, seed=args.seed, progress=not args.quiet,
        max_steps=args.max_steps, tol=args.tol, symmetrize=args.symmetrize, batch_size=args.batch_size,
    )
    try:
        fit_reporting_warnings(model, data, args)
    except (GraphInputError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    vecs = model.embedding_.detach().cpu()
    vals = model.eigenvalues_.detach().cpu()
    if out.suffix == ".pt":
        payload = {"eigenvectors": vecs, "eigenvalues": vals, "residuals": model.residuals_,
                   "operator": args.operator, "k": args.k, "seed": args.seed, "version": __version__,
                   "converged": model.converged_}
        atomic_save(out, lambda tmp: torch.save(payload, tmp))
    else:
        def write_both(tmp: str) -> None:
            _save_npy(tmp, vecs.numpy())
            # the vectors are renamed last: no interrupted write leaves vectors without their eigenvalues
            atomic_save(sidecar, lambda tmp2: _save_npy(tmp2, vals.numpy()))

        atomic_save(out, write_both)
    if not args.quiet:
        extra = f" + {sidecar.name}" if sidecar is not None else ""
        print(f"{data.num_nodes} nodes, k={args.k} ({args.operator}): max residual "
              f"{float(model.residuals_.max()):.1e}, {model.n_iter_} steps, {model.fit_time_:.2f} s -> {out}{extra}")
    return 0
