"""Command-line interface: ``pyg-spectral embed ...`` and ``pyg-spectral train ...``.

* ``embed`` (:mod:`pyg_spectral.cli.embed`): learn k eigenpairs of one graph, save ``.pt`` or ``.npy``.
* ``train`` (:mod:`pyg_spectral.cli.train`, also ``python -m pyg_spectral.train``): mini-batch training
  with any encoder, on one process or many (``torchrun``), with checkpoints.

Graphs are read by :func:`pyg_spectral.cli.io.load_graph` (edge lists, saved PyG ``Data`` read with
``weights_only=True``, ``.npz``). Every error is one line on stderr: exit status 2 for bad input or
settings (:class:`CLIError`), 1 for a failure.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..version import __version__
from . import embed, train
from .common import CLIError, HelpFormatter, execute
from .io import load_graph

__all__ = ["main", "build_parser", "CLIError", "load_graph"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyg-spectral", description="Neural spectral methods for PyG graphs.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"pyg-spectral {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{embed,train}")
    p = sub.add_parser("embed", help="learn k eigenvectors of a graph operator and save them",
                       description=embed.DESCRIPTION, formatter_class=HelpFormatter)
    embed.add_arguments(p)
    p.set_defaults(_parser=p)
    p = sub.add_parser("train", help="mini-batch training on one or many processes (torchrun); "
                                     "same as python -m pyg_spectral.train",
                       description=train.DESCRIPTION, epilog=train.EPILOG, formatter_class=HelpFormatter)
    train.add_arguments(p)
    p.set_defaults(_parser=p)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``pyg-spectral`` console script; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    return execute(args._parser, args)


if __name__ == "__main__":
    sys.exit(main())
