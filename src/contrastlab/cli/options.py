"""Command-line options generated from a configuration dataclass.

Every field becomes ``--<name>`` with its SupContrast spelling; booleans get ``--x / --no-x``;
lists take comma-separated values (``--lr_decay_epochs 700,800,900``). All defaults are ``None``
on the command line, so the resolution order is dataclass defaults < ``--config FILE.yaml`` <
explicit options.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from contrastlab.training.config import ConfigT, build_config, read_yaml

_HELP = {
    "temp": "loss temperature",
    "cosine": "cosine learning-rate decay",
    "warm": "linear learning-rate warm-up",
    "precision": "32 | 16-mixed | bf16-mixed",
    "device": "auto | cpu | cuda | cuda:N",
    "out": "run directory (default runs/<name>)",
    "resume": "checkpoint to continue from",
    "save_freq": "save a checkpoint every N epochs (last.pth every epoch)",
    "syncBN": "synchronised batch norm under torchrun",
    "moco_shuffle_bn": (
        "MoCo's shuffling BN: keys encoded on a shuffled batch (across processes under torchrun, "
        "in --moco_bn_splits parts in one process), then put back in order"
    ),
    "moco_bn_splits": (
        "MoCo in one process: encode the shuffled key batch in N batch-norm batches, as N GPUs "
        "would (1: one batch, nothing to shuffle)"
    ),
    "val_size": (
        "CIFAR only: training images held out (stratified) for validation, default 5000; 0 "
        "trains on all 50000 and chooses nothing on validation (the last epoch is kept); linear "
        "and knn default to the checkpoint's value"
    ),
}


def _comma_ints(text: str) -> list[int]:
    try:
        return [int(value) for value in text.split(",") if value.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from error


def add_config_options(
    parser: argparse.ArgumentParser, cls: type, skip: frozenset[str] = frozenset()
) -> None:
    """Add one option per field of dataclass ``cls`` (default None) and ``--config``."""
    parser.add_argument("--config", help="YAML file of options (command-line options win)")
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        kind = str(field.type)
        flag = f"--{field.name}"
        help_text = _HELP.get(field.name)
        if kind == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif kind.startswith("list[int]"):
            parser.add_argument(flag, type=_comma_ints, default=None, help=help_text)
        elif kind.startswith("int"):
            parser.add_argument(flag, type=int, default=None, help=help_text)
        elif kind.startswith("float"):
            parser.add_argument(flag, type=float, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=str, default=None, help=help_text)


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
