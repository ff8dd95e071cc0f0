"""``contrastlab bearing | diagnose | cpc | ucr``: the 1-D signal commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from contrastlab.cli.options import add_config_options, config_from_args
from contrastlab.config.signal import BearingConfig, CPCConfig, UCRConfig


def _print_json(summary: dict[str, Any]) -> None:
    shown = {k: v for k, v in summary.items() if k != "provenance"}
    print(json.dumps(shown, indent=2, sort_keys=True))


def _bearing_table(summary: dict[str, Any]) -> str:
    """The few-label figures as a small text table (mean ± std test accuracy, %)."""
    lines = []
    for evaluator, table in summary["few_label"].items():
        cells = []
        for key, entry in table.items():
            cell = f"{key}: {entry['mean']:.2f}±{entry['std']:.2f}"
            if "cross_load" in entry:
                cell += f" (x-load {entry['cross_load']['mean']:.2f})"
            cells.append(cell)
        lines.append(f"{evaluator:>17}  " + "  ".join(cells))
    final = summary["model_pt"]
    lines.append(
        f"model.pt ({final['classifier']}): test {final['test']:.2f}%"
        + (f", cross-load {final['cross_load']:.2f}%" if "cross_load" in final else "")
        + f"  -> {final['path']}"
    )
    return "\n".join(lines)


def _bearing(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.bearing import run_bearing

    summary = run_bearing(config_from_args(BearingConfig, args))
    print(_bearing_table(summary))
    print(f"run directory: {summary['run_dir']} (summary.json, model.pt, PNGs)")
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.diagnose import diagnose_files

    results = diagnose_files(
        args.files,
        args.ckpt,
        sample_rate_hz=args.sample_rate_hz,
        variable=args.variable,
        stride=args.stride,
    )
    for result in results:
        if args.json:
            print(json.dumps(result, sort_keys=True))
            continue
        print(
            f"{result['file']}: {result['verdict']} "
            f"(mean probability {result['verdict_confidence']:.3f}; majority {result['majority']} "
            f"in {result['majority_fraction']:.0%} of {result['n_windows']} windows)"
            + (f"  [file name says {result['file_class']}]" if "file_class" in result else "")
        )
        if args.windows:
            for start, name, confidence in zip(
                result["window_starts"],
                result["window_classes"],
                result["window_confidences"],
                strict=True,
            ):
                print(f"  window @ {start:>9d}: {name:<10} {confidence:.3f}")
    return 0


def _cpc(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.cpc import run_cpc

    _print_json(run_cpc(config_from_args(CPCConfig, args)))
    return 0


def _ucr(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.ucr import run_ucr

    _print_json(run_ucr(config_from_args(UCRConfig, args)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    help_text = (
        "bearing fault diagnosis: contrastive pretraining (--method simclr|supcon|cpc|siamese), "
        "few-label probe / fine-tuning / scratch baseline, cross-load test, model.pt"
    )
    parser = subparsers.add_parser("bearing", help=help_text, description=help_text)
    add_config_options(parser, BearingConfig)
    parser.set_defaults(func=_bearing)

    help_text = (
        "CPC pretraining on a signal source (cwru, bearing-sim, ucr, or your own recordings: "
        "--source folder --data DIR), then a linear probe (none with --labels none)"
    )
    parser = subparsers.add_parser("cpc", help=help_text, description=help_text)
    add_config_options(parser, CPCConfig)
    parser.set_defaults(func=_cpc)

    help_text = (
        "UCR / UEA evaluation on .ts files (--data, or the sets bundled with aeon): pretraining "
        "(e.g. --method ts2vec), then SVM / linear probe on frozen features"
    )
    parser = subparsers.add_parser("ucr", help=help_text, description=help_text)
    add_config_options(parser, UCRConfig)
    parser.set_defaults(func=_ucr)

    help_text = "classify the windows of .mat recordings with a bearing model.pt"
    parser = subparsers.add_parser("diagnose", help=help_text, description=help_text)
    parser.add_argument("files", nargs="+", help="MATLAB recordings (.mat)")
    parser.add_argument("--ckpt", required=True, help="model.pt written by 'contrastlab bearing'")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.add_argument(
        "--sample_rate_hz",
        type=float,
        default=12_000.0,
        help="sample rate of the recordings (default 12000, CWRU's drive-end set)",
    )
    parser.add_argument(
        "--variable", default=None, help="MAT variable holding the signal (default: by channel)"
    )
    parser.add_argument(
        "--stride", type=int, default=None, help="samples between windows (default: one window)"
    )
    parser.add_argument("--windows", action="store_true", help="also print every window")
    parser.set_defaults(func=_diagnose)
