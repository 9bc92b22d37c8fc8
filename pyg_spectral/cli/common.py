"""What the subcommands share: the user-facing error, help formatting, the ``--dataset`` type, and
one-line error reporting (flags named as the user typed them; tagged with the rank under ``torchrun``)."""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from typing import Callable, Dict

from ..datasets.planetoid import BUNDLED_PLANETOID

__all__ = ["CLIError", "HelpFormatter", "dataset_name", "flag_names", "to_flags", "report_errors", "execute", "fit_reporting_warnings", "rank"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows every option's default, except where there is none to show (required options, and
    ``None`` defaults, whose help says in words what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default is None or "%(default)" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def dataset_name(text: str) -> str:
    """``--dataset`` type: a bundled Planetoid name in any case (``cora``, ``Cora``, ``CORA``)."""
    for name in BUNDLED_PLANETOID:
        if text.lower() == name.lower():
            return name
    raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; choose one of {', '.join(BUNDLED_PLANETOID)} "
                                     "(any case)")


#: estimator parameters whose CLI flag is not the parameter's own name
_RENAMED = {"num_components": "--k"}


def flag_names(parser: argparse.ArgumentParser) -> Dict[str, str]:
    """``{parameter name: flag}`` for the options of ``parser`` (``max_steps`` -> ``--max-steps``)."""
    names = dict(_RENAMED)
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in names:
            names[action.dest] = longs[0]
    return names


def to_flags(message: str, names: Dict[str, str]) -> str:
    """Rewrite the estimator's parameter names in ``message`` as the CLI flags that set them.

    >>> to_flags("num_components=500 must be smaller; Pass symmetrize=True", {"num_components": "--k"})
    '--k=500 must be smaller; Pass --symmetrize'
    """
    message = re.sub(r"\bsymmetrize=True\b", "--symmetrize", message)
    for name, flag in names.items():
        if "_" in name:  # plain words (seed, device, output ...) stay words unless they are the subject
            message = re.sub(rf"(?<![-\w]){name}\b", flag, message)
        else:
            message = re.sub(rf"(?<![-\w]){name}(?= must|=)", flag, message)
    return message


def rank() -> int:
    """This process's rank under ``torchrun`` (0 outside it)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def report_errors(prog: str, func: Callable[[], int], names: Dict[str, str]) -> int:
    """Run ``func``; turn errors into one line on stderr and an exit status.

    ``CLIError`` (bad input or settings: 2) and an unexpected failure (1) are printed by every rank,
    with its rank when there are several: under ``torchrun`` the first rank to exit gets the others
    killed, so a message left to rank 0 alone can be lost.
    """
    where = f" [rank {rank()}]" if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else ""
    try:
        return func()
    except CLIError as exc:
        print(f"{prog}: error{where}: {to_flags(str(exc), names)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"{prog}: failed{where}: {exc.__class__.__name__}: {first}", file=sys.stderr)
        return 1


def execute(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the subcommand ``args.func`` parsed by ``parser``; errors reported by :func:`report_errors`
    under ``parser.prog``; the process group (if a subcommand started one) is closed on every path."""
    args._prog, args._names = parser.prog, flag_names(parser)
    try:
        return report_errors(parser.prog, lambda: args.func(args), args._names)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def fit_reporting_warnings(model, data, args: argparse.Namespace) -> None:
    """``model.fit(data)``; its warnings (e.g. not converged) become one line each on rank 0, with the
    estimator's parameter names written as flags."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data)
    if rank() != 0:
        return
    seen = set()
    for w in caught:
        text = to_flags(str(w.message), getattr(args, "_names", _RENAMED))
        if text not in seen:
            seen.add(text)
            print(f"{getattr(args, '_prog', 'pyg-spectral')}: warning: {text}", file=sys.stderr)
