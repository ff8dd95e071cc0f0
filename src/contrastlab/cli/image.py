"""``contrastlab pretrain | ce | linear | knn | plot``: the image pipeline's commands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from pathlib import Path

from contrastlab.cli.options import add_config_options, config_from_args

# What linear / knn act on; every other option shapes pretraining, and the checkpoint decides the
# network (model, stem, head, feat_dim). Giving one of those is allowed (SupContrast's scripts
# pass one option list to every command) but warned about.
_EVALUATION_OPTIONS = frozenset(
    {"ckpt", "dataset", "data_folder", "download", "val_size", "size", "seed", "device",
     "threads", "eval_batch_size", "progress"}
)  # fmt: skip
_LINEAR_OPTIONS = frozenset(
    {"out", "epochs", "learning_rate", "batch_size", "linear_epochs", "linear_learning_rate",
     "linear_batch_size"}
)  # fmt: skip
USED_OPTIONS = {
    "linear": _EVALUATION_OPTIONS | _LINEAR_OPTIONS,
    "knn": _EVALUATION_OPTIONS | {"knn_k"},
}


def warn_ignored_options(command: str, args: argparse.Namespace, config_class: type) -> None:
    """Warn about the options given to ``command`` that it does not use (``USED_OPTIONS``)."""
    ignored = [
        f"--{field.name}"
        for field in dataclasses.fields(config_class)
        if field.name not in USED_OPTIONS[command] and getattr(args, field.name, None) is not None
    ]
    if ignored:
        warnings.warn(
            f"contrastlab {command} ignores {', '.join(ignored)}: pretraining options (the "
            "checkpoint decides the network)",
            stacklevel=2,
        )


def _print_summary(summary: dict) -> None:
    print(json.dumps(summary, indent=2, sort_keys=True))
    if "test_top1" in summary:
        print(f"test top-1: {summary['test_top1']:.2f}%")


def _pretrain(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.image import ImageConfig, pretrain

    _print_summary(pretrain(config_from_args(ImageConfig, args)))
    return 0


def _ce(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.image import ImageConfig, train_ce

    # main_ce's own default learning rate (its decay at 70/80/90% is the shared default).
    config = config_from_args(ImageConfig, args, defaults={"learning_rate": 0.2}, method="ce")
    _print_summary(train_ce(config))
    return 0


def _linear(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.image import ImageConfig, linear_eval

    warn_ignored_options("linear", args, ImageConfig)
    # As in main_linear, --epochs, --learning_rate and --batch_size are the classifier's.
    linear_options = {
        f"linear_{name}": getattr(args, name)
        for name in ("epochs", "learning_rate", "batch_size")
        if getattr(args, name) is not None
    }
    _print_summary(linear_eval(config_from_args(ImageConfig, args, **linear_options)))
    return 0


def _knn(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.image import ImageConfig, knn_eval

    warn_ignored_options("knn", args, ImageConfig)
    accuracies = knn_eval(config_from_args(ImageConfig, args))
    print(json.dumps({f"knn_{split}_top1": value for split, value in accuracies.items()}, indent=2))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from contrastlab.evaluation.plots import plot_training_curves

    run_dir = Path(args.run_dir)
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(
            f"no metrics.jsonl in {run_dir}: is it a contrastlab run directory?"
        )
    print(plot_training_curves(metrics, run_dir / "training_curves.png"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from contrastlab.pipelines.image import ImageConfig

    commands = {
        "pretrain": (
            _pretrain,
            "SupCon / SimCLR / MoCo pretraining (--method supcon|simclr|moco)",
            frozenset(),
        ),
        "ce": (_ce, "supervised cross-entropy baseline", frozenset({"method"})),
        "linear": (_linear, "linear evaluation of a pretrained encoder (--ckpt PATH)", frozenset()),
        "knn": (_knn, "weighted kNN accuracy of a pretrained encoder (--ckpt PATH)", frozenset()),
    }
    for name, (func, help_text, skip) in commands.items():
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_config_options(parser, ImageConfig, skip=skip)
        parser.set_defaults(func=func)
    plot = subparsers.add_parser("plot", help="redraw a run's training curves PNG")
    plot.add_argument("run_dir", help="a run directory holding metrics.jsonl")
    plot.set_defaults(func=_plot)
