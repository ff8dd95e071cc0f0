"""Command-line options generated from a configuration dataclass.

Every field becomes ``--<name>`` with its SupContrast spelling; booleans get ``--x / --no-x``;
lists take comma-separated values (``--lr_decay_epochs 700,800,900``). All defaults are ``None``
on the command line, so the resolution order is dataclass defaults < ``--config FILE.yaml`` <
explicit options. Help texts come from :mod:`contrastlab.cli.option_help`, which shows those
defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from contrastlab.cli.option_help import help_text
from contrastlab.training.config import ConfigT, build_config, read_yaml


def _comma_ints(text: str) -> list[int]:
    try:
        return [int(value) for value in text.split(",") if value.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from error


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: frozenset[str] = frozenset(),
    command: str | None = None,
) -> None:
    """Add one option per field of dataclass ``cls`` (default None) and ``--config``.

    ``command`` picks command-specific help texts; by default the last word of ``parser.prog``
    (``contrastlab ce`` -> ``ce``).
    """
    command = command or parser.prog.split()[-1]
    parser.add_argument("--config", help="YAML file of options (command-line options win)")
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        kind = str(field.type)
        flag = f"--{field.name}"
        text = help_text(field.name, cls, command)
        # argparse %-formats help strings: a literal % (as in "90% of --epochs") is written %%.
        help_string = None if text is None else text.replace("%", "%%")
        if kind == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_string
            )
        elif kind.startswith("list[int]"):
            parser.add_argument(flag, type=_comma_ints, default=None, help=help_string)
        elif kind.startswith("int"):
            parser.add_argument(flag, type=int, default=None, help=help_string)
        elif kind.startswith("float"):
            parser.add_argument(flag, type=float, default=None, help=help_string)
        else:
            parser.add_argument(flag, type=str, default=None, help=help_string)


def config_from_args(
    cls: type[ConfigT],
    args: argparse.Namespace,
    defaults: Mapping[str, Any] | None = None,
    **fixed: Any,
) -> ConfigT:
    """Resolve ``cls`` from, later winning: its field defaults, the command's ``defaults``,
    ``args.config`` (YAML), explicit options and ``fixed``."""
    names = {field.name for field in dataclasses.fields(cls)}
    from_file = read_yaml(args.config) if getattr(args, "config", None) else None
    explicit = {
        name: getattr(args, name) for name in names if getattr(args, name, None) is not None
    }
    return build_config(cls, defaults, from_file, explicit, fixed)
