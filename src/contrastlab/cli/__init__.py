"""The ``contrastlab`` command line.

Each sub-command lives in a module of this package exposing ``register(subparsers)``, which adds
its parser (options generated from the command's configuration, :mod:`contrastlab.cli.options`)
and sets ``func`` (a callable taking the parsed namespace and returning an exit code). Add a
command by appending its module name to ``_COMMAND_MODULES``. Parsers import no heavy library, so
``--help`` answers at once; a command imports its pipeline when it runs.

:func:`main` is the error boundary: what a user can cause (a bad option, a missing file, an
unreadable checkpoint, a missing optional extra, a run directory in use) prints one line,
``contrastlab <command>: error: ...``, and exits with 2; anything else prints one line naming it
as an internal error and exits with 1. ``--debug`` shows the traceback instead. Warnings print as
``contrastlab <command>: warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

_COMMAND_MODULES: tuple[str, ...] = ("image", "signal", "data", "deploy")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away) and that
    never completes an abbreviated option."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[no-untyped-def]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered sub-command."""
    from contrastlab import __version__

    parser = _Parser(
        prog="contrastlab",
        description="Contrastive representation learning for images and 1-D signals.",
    )
    parser.add_argument("--version", action="version", version=f"contrastlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(f"contrastlab.cli.{module_name}")
        module.register(subparsers)
    for command_parser in subparsers.choices.values():
        command_parser.add_argument(
            "--debug", action="store_true", help="show the full traceback of an error"
        )
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return text or type(error).__name__


@contextlib.contextmanager
def _warnings_as_lines(command: str) -> Iterator[None]:
    """Show warnings as ``contrastlab <command>: warning: ...`` lines on stderr (the format, not
    the machinery: ``warnings.catch_warnings`` still records them)."""
    previous = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None):  # type: ignore[no-untyped-def]
        return f"contrastlab {command}: warning: {_one_line(message)}\n"

    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = previous


def _run(args: argparse.Namespace) -> int:
    from contrastlab.training import distributed

    # Under torchrun: one process group for the whole command; only rank 0 prints results.
    with distributed.process_group_from_environment():
        if distributed.is_main_process():
            return int(args.func(args) or 0)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            return int(args.func(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; return the process exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    if unknown:
        prog = f"contrastlab {args.command}"
        print(
            f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see {prog} --help)",
            file=sys.stderr,
        )
        return 2
    command, debug = args.command, getattr(args, "debug", False)
    with _warnings_as_lines(command):
        try:
            return _run(args)
        except KeyboardInterrupt:
            print(f"contrastlab {command}: interrupted", file=sys.stderr)
            return 130
        except (ValueError, OSError, ImportError) as error:
            if debug:
                raise
            print(f"contrastlab {command}: error: {_one_line(error)}", file=sys.stderr)
            return 2
        except Exception as error:
            if debug:
                raise
            if type(error).__name__ == "OutOfMemoryError":
                message = "out of memory on the device: lower --batch_size (or --size)"
                print(f"contrastlab {command}: error: {message}", file=sys.stderr)
                return 2
            print(
                f"contrastlab {command}: internal error ({type(error).__name__}: "
                f"{_one_line(error)}); rerun with --debug for the traceback and please report it",
                file=sys.stderr,
            )
            return 1
