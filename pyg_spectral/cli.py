"""Command-line interface: ``pyg-spectral embed INPUT --k K --output OUT``.

INPUT is an edge list (``.txt``/``.csv``/``.tsv``, optionally ``.gz``; ``u v`` or ``u,v`` lines, ``#``
comments, optional weight column), a saved PyG ``Data`` (``torch.save``; ``.pt``/``.pth``) or a ``.npz``
holding ``edge_index`` (``[2, E]``) and optionally ``edge_weight`` and ``num_nodes``. OUT is ``.pt``
(a dict with ``eigenvectors``, ``eigenvalues``, ``residuals`` and the settings) or ``.npy``
(``[n, k]`` eigenvectors; eigenvalues beside it in ``OUT.eigenvalues.npy``). Files are written to a
temporary name and renamed, so an interrupted run leaves no partial output. Errors are one line on
stderr with exit status 2 (bad input) or 1 (failure).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from torch_geometric.data import Data

from .version import __version__

OPERATORS = ["laplacian", "adjacency", "lazy_adjacency", "random_walk"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def load_graph(path: Path) -> Data:
    if not path.exists():
        raise CLIError(f"input file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith((".pt", ".pth")):
            try:
                # memory-mapped: processes of one machine (torchrun ranks) share the pages of x and edge_index
                obj = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
            except RuntimeError:  # files in torch's legacy (non-zip) format cannot be mapped
                obj = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(obj, Data) or getattr(obj, "edge_index", None) is None:
                raise CLIError(f"{path}: expected a torch_geometric.data.Data with edge_index, got "
                               f"{type(obj).__name__}")
            return obj
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as npz:
                if "edge_index" not in npz:
                    raise CLIError(f"{path}: the .npz has no 'edge_index' array (found {sorted(npz.files)})")
                ei = torch.from_numpy(np.asarray(npz["edge_index"]).astype(np.int64))
                data = Data(edge_index=ei)
                if "edge_weight" in npz:
                    data.edge_weight = torch.from_numpy(np.asarray(npz["edge_weight"], dtype=np.float32))
                data.num_nodes = int(npz["num_nodes"]) if "num_nodes" in npz else \
                    (int(ei.max()) + 1 if ei.numel() else 0)
                return data
        if name.endswith((".txt", ".csv", ".tsv", ".edges", ".gz")):
            from .datasets import read_edge_list

            return read_edge_list(path)
    except CLIError:
        raise
    except Exception as exc:  # corrupt or unreadable file: one line, no traceback
        raise CLIError(f"cannot read {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}") from None
    raise CLIError(f"{path}: unknown input format (use .txt/.csv/.tsv[.gz], .pt or .npz)")


def atomic_save(out: Path, writer) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def embed(args: argparse.Namespace) -> int:
    from . import NeuralSpectralEmbedding
    from .exceptions import GraphInputError

    out = Path(args.output)
    if out.suffix not in (".pt", ".npy"):
        raise CLIError(f"--output must end in .pt or .npy, got {out.name}")
    sidecar = out.with_suffix(".eigenvalues.npy") if out.suffix == ".npy" else None
    for target in filter(None, [out, sidecar]):
        if target.exists() and not args.force:
            raise CLIError(f"{target} exists; pass --force to overwrite")
    data = load_graph(Path(args.input))
    model = NeuralSpectralEmbedding(
        args.k, operator=args.operator, device=args.device, seed=args.seed, progress=not args.quiet,
        max_steps=args.max_steps, tol=args.tol, symmetrize=args.symmetrize,
        batch_size=args.batch_size,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            model.fit(data)
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
        atomic_save(out, lambda tmp: np.save(open(tmp, "wb"), vecs.numpy()))
        atomic_save(sidecar, lambda tmp: np.save(open(tmp, "wb"), vals.numpy()))
    if not args.quiet:
        print(f"{data.num_nodes} nodes, k={args.k} ({args.operator}): max residual "
              f"{float(model.residuals_.max()):.1e}, {model.n_iter_} steps, {model.fit_time_:.2f} s -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyg-spectral", description="Neural spectral methods for PyG graphs.")
    parser.add_argument("--version", action="version", version=f"pyg-spectral {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("embed", help="learn k eigenvectors of a graph operator and save them",
                       description=__doc__.split("\n\n")[1] if "\n\n" in __doc__ else None)
    p.add_argument("input", help="edge list (.txt/.csv/.tsv[.gz]), saved PyG Data (.pt) or .npz")
    p.add_argument("--k", type=int, required=True, help="number of eigenpairs")
    p.add_argument("--output", "-o", required=True, help="output file (.pt or .npy)")
    p.add_argument("--operator", default="laplacian", choices=OPERATORS)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=10000)
    p.add_argument("--tol", type=float, default=1e-4, help="stop when every residual is below this")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch training (default: full batch)")
    p.add_argument("--symmetrize", action="store_true", help="accept a directed graph and symmetrize it")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=embed)
    sub.add_parser("train", add_help=False,
                   help="mini-batch training on one or many processes (torchrun); "
                        "same arguments as `python -m pyg_spectral.train`")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:
        from .train import main as train_main

        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"pyg-spectral: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyg-spectral: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # pragma: no cover - unexpected failures stay one line too
        print(f"pyg-spectral: failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
