"""The ``contrastlab`` command line.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed namespace and returning an
exit code). Add a new command by appending its module name to ``_COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

_COMMAND_MODULES: tuple[str, ...] = ("image", "signal", "data")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered sub-command."""
    from contrastlab import __version__

    parser = argparse.ArgumentParser(
        prog="contrastlab",
        description="Contrastive representation learning for images and 1-D signals.",
    )
    parser.add_argument("--version", action="version", version=f"contrastlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(f"contrastlab.cli.{module_name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from contrastlab.training import distributed

    try:
        # Under torchrun: one process group for the whole command; only rank 0 prints results.
        with distributed.process_group_from_environment():
            if distributed.is_main_process():
                return int(args.func(args) or 0)
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"contrastlab {args.command}: error: {error}", file=sys.stderr)
        return 2
