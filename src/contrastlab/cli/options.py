"""Command-line options generated from a configuration dataclass (:mod:`contrastlab.config`).

Every field made with :func:`contrastlab.config.option` becomes ``--<name>`` with its help text
and its default shown; booleans get ``--x / --no-x``; lists take comma-separated values
(``--lr_decay_epochs 700,800,900``). All command-line defaults are ``None``, so the resolution
order is field defaults < the configuration's preset < ``--config FILE.yaml`` < explicit options
(:func:`config_from_args`). Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from collections.abc import Callable
from typing import Any

from contrastlab.config.options import (
    ConfigT,
    build_config,
    field_defaults,
    field_types,
    option_info,
)
from contrastlab.config.yaml_files import read_yaml


def format_default(value: Any) -> str:
    """A default as a help text shows it: ``on`` / ``off``, ``1,5,10`` for lists, ``0.0001``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(format_default(item) for item in value) or "none"
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return "none" if value is None else str(value)


def _metavar(kind: Any, choices: tuple[Any, ...] | None) -> str:
    """``{a,b}`` for a choice, ``A,B,...`` for a list, ``N`` / ``X`` for numbers."""
    if typing.get_origin(kind) is list:
        return "A,B,..."
    if choices is not None:
        return "{" + ",".join(map(str, choices)) + "}"
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
    return {int: "N", float: "X"}.get(base, "TEXT")


def add_config_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--config`` and one option per command-line field of dataclass ``cls``.

    Values stay text here; :func:`config_from_args` converts and checks them with the same rules
    as a YAML file's, so both give the same error messages.
    """
    parser.add_argument(
        "--config", metavar="FILE.yaml", help="YAML file of options (command-line options win)"
    )
    defaults = effective_defaults(cls)
    preset_fields = cls.preset_fields()
    types = field_types(cls)
    for field in dataclasses.fields(cls):
        info = option_info(field)
        if not info.cli:
            continue
        note = (
            "; a --dataset / --method recipe may set another" if field.name in preset_fields else ""
        )
        shown = (
            f"{info.help} (default {format_default(defaults.get(field.name))}{note})"
            if info.help
            else None
        )
        help_string = None if shown is None else shown.replace("%", "%%")
        flag = f"--{field.name}"
        kind = types[field.name]
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_string
            )
            continue
        parser.add_argument(
            flag, default=None, metavar=_metavar(kind, info.choices), help=help_string
        )


def effective_defaults(cls: type) -> dict[str, Any]:
    """What a bare command runs with: the field defaults with the default choices' preset (e.g.
    ``pretrain``'s digits recipe), or the field defaults where a required option is missing."""
    try:
        config = build_config(cls)
    except ValueError:
        return field_defaults(cls)
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(cls)}


def given_options(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The options of ``cls`` given on the command line (not None)."""
    return {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(cls)
        if getattr(args, field.name, None) is not None
    }


def config_from_args(cls: type[ConfigT], args: argparse.Namespace, **fixed: Any) -> ConfigT:
    """Resolve ``cls`` from, later winning: its field defaults, its preset, ``args.config``
    (YAML), explicit options and ``fixed``."""
    from_file = read_yaml(args.config) if getattr(args, "config", None) else None
    return build_config(cls, from_file, given_options(cls, args), fixed)


Command = tuple[Callable[[argparse.Namespace], int], type, str]


def register_commands(subparsers: argparse._SubParsersAction, commands: dict[str, Command]) -> None:
    """Add one parser per ``{name: (function, configuration class, help)}``, its options
    generated from the configuration."""
    for name, (function, config_class, help_text) in commands.items():
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_config_options(parser, config_class)
        parser.set_defaults(func=function)


def print_summary(summary: dict[str, Any], hidden: tuple[str, ...] = ("provenance",)) -> None:
    """A command's summary as indented JSON on stdout, without the ``hidden`` entries (the
    provenance is in summary.json)."""
    shown = {key: value for key, value in summary.items() if key not in hidden}
    print(json.dumps(shown, indent=2, sort_keys=True))
