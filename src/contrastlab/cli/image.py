"""``contrastlab pretrain | ce | linear | knn | plot``: the image pipeline's commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from contrastlab.cli.options import config_from_args, print_summary, register_commands
from contrastlab.config.image import CEConfig, KNNConfig, LinearConfig, PretrainConfig


def _print_summary(summary: dict[str, Any]) -> None:
    print_summary(summary)
    if summary.get("test_top1") is not None:
        print(f"test top-1: {summary['test_top1']:.2f}%")


def _pretrain(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.pretrain import pretrain

    _print_summary(pretrain(config_from_args(PretrainConfig, args)))
    return 0


def _ce(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.cross_entropy import train_ce

    _print_summary(train_ce(config_from_args(CEConfig, args)))
    return 0


def _linear(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.linear_eval import linear_eval

    _print_summary(linear_eval(config_from_args(LinearConfig, args)))
    return 0


def _knn(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.knn_eval import knn_eval

    print(json.dumps(knn_eval(config_from_args(KNNConfig, args)), indent=2))
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


COMMANDS = {
    "pretrain": (_pretrain, PretrainConfig, "SupCon / SimCLR / MoCo pretraining (--method)"),
    "ce": (_ce, CEConfig, "supervised cross-entropy baseline"),
    "linear": (_linear, LinearConfig, "linear evaluation of a pretrained encoder (--ckpt PATH)"),
    "knn": (_knn, KNNConfig, "weighted kNN accuracy of a pretrained encoder (--ckpt PATH)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    register_commands(subparsers, COMMANDS)
    plot = subparsers.add_parser("plot", help="redraw a run's training curves PNG")
    plot.add_argument("run_dir", help="a run directory holding metrics.jsonl")
    plot.set_defaults(func=_plot)
