r"""Mini-batch training from the command line, on one process or many (``torchrun``).

One process::

    python -m pyg_spectral.train --dataset cora --k 16 --encoder mlp --batch-size 256 --output cora.pt

Data parallel on 2 CPU processes (gloo), checkpointed and restarted once if a worker dies::

    torchrun --standalone --nproc-per-node 2 --max-restarts 1 -m pyg_spectral.train \
        --dataset cora --k 16 --encoder mlp --batch-size 256 --checkpoint ckpt.pt --output cora.pt

On GPUs use ``--backend nccl`` (the default when CUDA is available); rank :math:`r` uses
``cuda:LOCAL_RANK``. Every rank loads the graph itself and draws its own batches; the loss is
the single-process estimator on the ranks' concatenated batch (see
:mod:`pyg_spectral.training.distributed`), so ``--batch-size`` is per rank and the total batch
is ``nproc x batch-size``. Rank 0 writes the checkpoint and the output, each atomically; when
``--checkpoint`` exists at start-up, training resumes from it. ``--timeout`` bounds every
collective, so a dead rank makes the others fail instead of hang.

INPUT is anything ``pyg-spectral embed`` reads (edge list, saved ``Data``, ``.npz``) or a
bundled dataset via ``--dataset cora|citeseer``. The output ``.pt`` holds ``eigenvectors``,
``eigenvalues``, ``residuals``, ``history`` and the settings.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import List, Optional

import torch

from .version import __version__
from .cli import CLIError, atomic_save, load_graph

ENCODERS = ["mlp", "gcn", "sage", "gin", "embedding"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pyg_spectral.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Launch on N processes with: torchrun --nproc-per-node N -m pyg_spectral.train ...")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("input", nargs="?", help="edge list (.txt/.csv/.tsv[.gz]), saved PyG Data (.pt) or .npz")
    src.add_argument("--dataset", choices=["cora", "citeseer"], help="a graph bundled with the package")
    p.add_argument("--k", type=int, required=True, help="number of eigenpairs")
    p.add_argument("--output", "-o", required=True, help="output .pt file (written by rank 0)")
    p.add_argument("--operator", default="laplacian",
                   choices=["laplacian", "adjacency", "lazy_adjacency", "random_walk"])
    p.add_argument("--encoder", default="mlp", choices=ENCODERS)
    p.add_argument("--hidden-channels", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=None, help="encoder depth (default: the encoder's)")
    p.add_argument("--batch-size", type=int, default=512, help="rows per rank per step")
    p.add_argument("--sampler", default="node", choices=["node", "edge", "neighbor"])
    p.add_argument("--num-neighbors", type=int, nargs="+", default=None, help="GNN fan-out per layer")
    p.add_argument("--max-steps", type=int, default=2000)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-size", type=int, default=4096)
    p.add_argument("--ema-decay", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--checkpoint", default=None, help="checkpoint file (resumed from when it exists)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"])
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a collective may wait")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--version", action="version", version=f"pyg-spectral {__version__}")
    return p


def load_input(args: argparse.Namespace):
    if args.dataset is not None:
        from .datasets import load_planetoid

        return load_planetoid({"cora": "Cora", "citeseer": "CiteSeer"}[args.dataset])[0]
    return load_graph(Path(args.input))


def run(args: argparse.Namespace) -> int:
    from . import NeuralSpectralEmbedding
    from .exceptions import GraphInputError
    from .training.distributed import CheckpointError, DistributedSettingsError, init_distributed

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = Path(args.output)
    if out.suffix != ".pt":
        raise CLIError(f"--output must end in .pt, got {out.name}")
    if out.exists() and not args.force:  # checked by every rank, before any of them waits for the others
        raise CLIError(f"{out} exists; pass --force to overwrite")
    ctx = init_distributed(args.backend, timeout_s=args.timeout)
    data = load_input(args)
    encoder_kwargs = {}
    if args.encoder != "embedding":
        encoder_kwargs["hidden_channels"] = args.hidden_channels
        if args.num_layers is not None:
            encoder_kwargs["num_layers"] = args.num_layers
    model = NeuralSpectralEmbedding(
        args.k, operator=args.operator, encoder=args.encoder, batch_size=args.batch_size, sampler=args.sampler,
        num_neighbors=args.num_neighbors, max_steps=args.max_steps, tol=args.tol, lr=args.lr,
        eval_every=args.eval_every, eval_size=args.eval_size, ema_decay=args.ema_decay, seed=args.seed,
        dtype=getattr(torch, args.dtype), checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
        encoder_kwargs=encoder_kwargs or None, progress=not args.quiet and ctx.is_main,
        device=ctx.device if ctx.world_size > 1 else None,
    )
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            model.fit(data)
    except (GraphInputError, ValueError, CheckpointError, DistributedSettingsError) as exc:
        raise CLIError(str(exc)) from None
    wall = time.perf_counter() - start
    if ctx.is_main:
        payload = {"eigenvectors": model.embedding_.detach().cpu(), "eigenvalues": model.eigenvalues_,
                   "residuals": model.residuals_, "history": model.history_, "steps": model.n_iter_,
                   "converged": model.converged_, "world_size": ctx.world_size, "fit_time": wall,
                   "settings": {k: v for k, v in vars(args).items()}, "version": __version__}
        atomic_save(out, lambda tmp: torch.save(payload, tmp))
        if not args.quiet:
            print(f"{data.num_nodes} nodes, k={args.k}, {ctx.world_size} process(es): {model.n_iter_} steps, "
                  f"max residual {float(model.residuals_.max()):.1e}, {wall:.1f} s -> {out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CLIError as exc:
        print(f"pyg_spectral.train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
