"""``contrastlab pretrain | ce | linear | knn | plot``: the image pipeline's commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from contrastlab.cli.options import add_config_options, config_from_args


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
