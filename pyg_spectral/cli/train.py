r"""``pyg-spectral train`` (= ``python -m pyg_spectral.train``): mini-batch training on one process or many.

One process::

    pyg-spectral train --dataset cora --lcc --k 16 --encoder mlp --batch-size 256 --output cora.pt

A graph without node features (an edge list): an MLP on propagated inputs (see
:class:`~pyg_spectral.encoders.PropagatedInputs`)::

    pyg-spectral train edges.txt --k 16 --encoder mlp --inputs propagated --output edges.pt

Data parallel on 2 CPU processes (gloo), checkpointed and restarted once if a worker dies::

    torchrun --standalone --nproc-per-node 2 --max-restarts 1 -m pyg_spectral.train \
        --dataset cora --lcc --k 16 --encoder mlp --batch-size 256 --checkpoint ckpt.pt --output cora.pt

On GPUs use ``--backend nccl`` (the default when CUDA is available); rank :math:`r` uses
``cuda:LOCAL_RANK``. Every rank loads the graph itself and draws its own batches; the loss is the
single-process estimator on the ranks' concatenated batch (see :mod:`pyg_spectral.training.distributed`),
so ``--batch-size`` is per rank and the total batch is ``nproc x batch-size``. Rank 0 writes the
checkpoint and the output, each atomically; when ``--checkpoint`` exists at start-up, training resumes
from it (with the same settings, process count and ``--threads``: see
:mod:`pyg_spectral.training.checkpoint`). ``--timeout`` bounds every collective, so a dead rank makes the
others fail instead of hang. Errors in the input or settings are printed by each rank that reaches
them, tagged with its rank (the first rank to exit gets the others killed, so rank 0 alone could be cut off).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

import torch

from ..utils.io import atomic_save
from ..version import __version__
from .common import CLIError, HelpFormatter, dataset_name, execute, fit_reporting_warnings
from .embed import OPERATORS
from .io import largest_component, load_graph

__all__ = ["DESCRIPTION", "ENCODERS", "add_arguments", "build_parser", "run", "main"]

ENCODERS = ["mlp", "gcn", "sage", "gin", "embedding"]

DESCRIPTION = """\
Mini-batch training on one process or many (torchrun), with checkpoints.

INPUT is anything `pyg-spectral embed` reads (edge list, saved PyG Data, .npz), or a bundled graph
with --dataset. The output .pt holds eigenvectors, eigenvalues, residuals, history and the settings.
--batch-size is per process; rank 0 writes the checkpoint and the output, each atomically, and a run
started with an existing --checkpoint resumes from it (same settings, processes and threads).
"""
EPILOG = "Launch on N processes with: torchrun --nproc-per-node N -m pyg_spectral.train ..."


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("input", nargs="?", default=None,
                     help="edge list (.txt/.csv/.tsv/.edges[.gz]), saved PyG Data (.pt) or .npz")
    src.add_argument("--dataset", type=dataset_name, default=None, metavar="{Cora,CiteSeer}",
                     help="a graph bundled with the package, any case: cora, Cora ... (default: INPUT is read instead)")
    p.add_argument("--k", type=int, required=True, help="number of eigenpairs")
    p.add_argument("--output", "-o", required=True, help="output .pt file (written by rank 0)")
    p.add_argument("--lcc", action="store_true",
                   help="keep only the largest connected component (on a disconnected graph the first "
                        "eigenvectors are component indicators, which an MLP of the features cannot express)")
    p.add_argument("--symmetrize", action="store_true", help="accept a directed graph and use A + A^T")
    p.add_argument("--operator", default="laplacian", choices=OPERATORS, help="graph operator")
    p.add_argument("--encoder", default="mlp", choices=ENCODERS, help="network that outputs the eigenvectors")
    p.add_argument("--inputs", default="features", choices=["features", "propagated"],
                   help="what a network (MLP or GNN) reads: the node features, or multi-scale propagated noise and features "
                        "computed once (PropagatedInputs; for graphs without features)")
    p.add_argument("--hidden-channels", type=int, default=256, help="encoder width")
    p.add_argument("--num-layers", type=int, default=None, help="encoder depth (default: the encoder's own)")
    p.add_argument("--batch-size", type=int, default=512, help="rows per process per step")
    p.add_argument("--sampler", default="node", choices=["node", "edge", "neighbor"], help="batch sampler")
    p.add_argument("--num-neighbors", type=int, nargs="+", default=None,
                   help="GNN fan-out per layer (default: the sampler's)")
    p.add_argument("--max-steps", type=int, default=2000, help="most optimisation steps")
    p.add_argument("--tol", type=float, default=1e-3, help="stop when every residual is below this")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's)")
    p.add_argument("--eval-every", type=int, default=50, help="steps between residual evaluations")
    p.add_argument("--eval-size", type=int, default=4096, help="held-out rows used to evaluate residuals")
    p.add_argument("--ema-decay", type=float, default=None, help="EMA of the weights (default: no EMA)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="training precision")
    p.add_argument("--checkpoint", default=None, help="checkpoint file, resumed from when it exists (default: none)")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="steps between checkpoints (default: --eval-every)")
    p.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"],
                   help="torch.distributed backend (auto: nccl with CUDA, else gloo)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a collective may wait")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per process (default: torch's); part of the resume contract")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def build_parser(prog: str = "python -m pyg_spectral.train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_arguments(p)
    p.add_argument("--version", action="version", version=f"pyg-spectral {__version__}")
    return p


def _load_input(args: argparse.Namespace):
    if args.dataset is not None:
        from ..datasets import load_planetoid

        data = load_planetoid(args.dataset)[0]
    else:
        data = load_graph(Path(args.input))
    return largest_component(data) if args.lcc else data


def run(args: argparse.Namespace) -> int:
    from ..estimator import NeuralSpectralEmbedding
    from ..exceptions import CheckpointError, DistributedSettingsError, GraphInputError
    from ..training.distributed import init_distributed

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = Path(args.output)
    if out.suffix != ".pt":
        raise CLIError(f"--output must end in .pt, got {out.name}")
    if out.exists() and not args.force:  # checked by every rank, before any of them waits for the others
        raise CLIError(f"{out} exists; pass --force to overwrite")
    if args.inputs != "features" and args.encoder in ("embedding", "krylov"):
        raise CLIError(f"--inputs {args.inputs} builds the inputs of a network: use --encoder mlp or a GNN "
                       f"(got --encoder {args.encoder})")
    ctx = init_distributed(args.backend, timeout_s=args.timeout)
    data = _load_input(args)
    encoder_kwargs = {}
    if args.encoder != "embedding":
        encoder_kwargs["hidden_channels"] = args.hidden_channels
        if args.num_layers is not None:
            encoder_kwargs["num_layers"] = args.num_layers
    if args.inputs != "features":  # the estimator says which encoders accept it
        encoder_kwargs["inputs"] = args.inputs
    model = NeuralSpectralEmbedding(
        args.k, operator=args.operator, encoder=args.encoder, batch_size=args.batch_size, sampler=args.sampler,
        num_neighbors=args.num_neighbors, max_steps=args.max_steps, tol=args.tol, lr=args.lr,
        eval_every=args.eval_every, eval_size=args.eval_size, ema_decay=args.ema_decay, seed=args.seed,
        dtype=getattr(torch, args.dtype), checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
        encoder_kwargs=encoder_kwargs or None, progress=not args.quiet and ctx.is_main,
        # the rank's device under torchrun (cuda:LOCAL_RANK with NCCL, a single GPU included)
        device=ctx.device if ctx.world_size > 1 or ctx.device.type == "cuda" else None, symmetrize=args.symmetrize,
    )
    start = time.perf_counter()
    try:
        fit_reporting_warnings(model, data, args)
    except (GraphInputError, ValueError, CheckpointError, DistributedSettingsError) as exc:
        raise CLIError(str(exc)) from None
    wall = time.perf_counter() - start
    if ctx.is_main:
        settings = {key: value for key, value in vars(args).items() if not key.startswith("_") and key != "func"}
        payload = {"eigenvectors": model.embedding_.detach().cpu(), "eigenvalues": model.eigenvalues_,
                   "residuals": model.residuals_, "history": model.history_, "steps": model.n_iter_,
                   "converged": model.converged_, "world_size": ctx.world_size, "fit_time": wall,
                   "num_nodes": data.num_nodes, "settings": settings, "version": __version__}
        atomic_save(out, lambda tmp: torch.save(payload, tmp))
        if not args.quiet:
            print(f"{data.num_nodes} nodes, k={args.k}, {ctx.world_size} process(es): {model.n_iter_} steps, "
                  f"max residual {float(model.residuals_.max()):.1e}, {wall:.1f} s -> {out}")
    return 0


def main(argv: Optional[List[str]] = None, prog: str = "python -m pyg_spectral.train") -> int:
    """Parse ``argv`` and train; the exit status (0, 2 for bad input or settings, 1 for a failure)."""
    parser = build_parser(prog)
    return execute(parser, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
