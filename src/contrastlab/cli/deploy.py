"""``contrastlab embed | export``: a trained network put to use (features as files, deployable
files)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from contrastlab.cli.options import add_config_options, config_from_args
from contrastlab.config.deploy import EmbedConfig, ExportConfig


def _print_json(summary: dict[str, Any]) -> None:
    shown = {k: v for k, v in summary.items() if k not in ("provenance", "facts")}
    print(json.dumps(shown, indent=2, sort_keys=True))


def _embed(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.embed import embed

    _print_json(embed(config_from_args(EmbedConfig, args)))
    return 0


def _export(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.export import export

    _print_json(export(config_from_args(ExportConfig, args)))
    return 0


COMMANDS = {
    "embed": (
        _embed,
        EmbedConfig,
        "features of a trained network (--ckpt) for an image / recording folder or a built-in "
        "set: embeddings.npy, labels.npy, files.txt (or one Parquet table)",
    ),
    "export": (
        _export,
        ExportConfig,
        "a trained network (--ckpt) as ONNX and TorchScript files, checked against PyTorch",
    ),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, (func, config_class, help_text) in COMMANDS.items():
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_config_options(parser, config_class)
        parser.set_defaults(func=func)
