"""``contrastlab embed | export``: a trained network put to use (features as files, deployable
files)."""

from __future__ import annotations

import argparse

from contrastlab.cli.options import config_from_args, print_summary, register_commands
from contrastlab.config.deploy import EmbedConfig, ExportConfig


def _embed(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.embed import embed

    print_summary(embed(config_from_args(EmbedConfig, args)), ("provenance", "facts"))
    return 0


def _export(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.export import export

    print_summary(export(config_from_args(ExportConfig, args)), ("provenance", "facts"))
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
    register_commands(subparsers, COMMANDS)
