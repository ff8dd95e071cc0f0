"""``contrastlab bearing | diagnose | cpc | ucr``: the 1-D signal commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from contrastlab.cli.options import (
    add_config_options,
    config_from_args,
    print_summary,
    register_commands,
)
from contrastlab.config.signal import BearingConfig, CPCConfig, DiagnoseConfig, UCRConfig

EXIT_REJECTED = 3
EXIT_UNCERTAIN = 4


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
    lines.append(f"model.pt ({final['classifier']}) -> {final['path']}")
    lines += [f"  {name:>10}: {_judgement(entry)}" for name, entry in final["sets"].items()]
    return "\n".join(lines)


def _rate(rate: float | None, windows: int, kind: str) -> str:
    return f"n/a (no {kind} window)" if rate is None else f"{rate:.2%} of {windows} {kind}"


def _judgement(entry: dict[str, Any]) -> str:
    """model.pt on one window set: accuracy, false alarms, missed detections, doubtful windows."""
    return (
        f"accuracy {entry['accuracy']:.2f}% of {entry['windows']} windows; false alarms "
        f"{_rate(entry['false_alarm_rate'], entry['normal_windows'], 'normal')}; missed "
        f"detections {_rate(entry['missed_detection_rate'], entry['faulty_windows'], 'faulty')}; "
        f"doubtful {entry['doubtful_fraction']:.1%} (out of distribution "
        f"{entry['out_of_distribution_fraction']:.1%})"
    )


def _bearing(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.bearing import run_bearing

    summary = run_bearing(config_from_args(BearingConfig, args))
    print(_bearing_table(summary))
    print(f"run directory: {summary['run_dir']} (summary.json, model.pt, PNGs)")
    return 0


def _diagnosis_line(result: dict[str, Any]) -> str:
    """One console line per file: the verdict, then why (rejection, doubt) and the warnings."""
    head = f"{result['file']}: {result['verdict']}"
    if result["rejection"] is not None:
        rejection = result["rejection"]
        text = f"{head} ({rejection['reason']}: {rejection['message']})"
    else:
        text = (
            f"{head} (best guess {result['best_guess']}, mean probability "
            f"{result['confidence']:.3f}; majority {result['majority']} in "
            f"{result['majority_fraction']:.0%} of {result['n_windows']} windows"
        )
        if result["doubtful_fraction"] is not None:
            text += (
                f"; doubtful {result['doubtful_fraction']:.0%}: out of distribution "
                f"{result['out_of_distribution_fraction']:.0%}, low confidence "
                f"{result['low_confidence_fraction']:.0%}"
            )
        text += ")"
    if result["file_class"] is not None:
        text += f"  [file name says {result['file_class']}]"
    return "\n".join([text, *(f"  warning: {warning}" for warning in result["warnings"])])


def diagnosis_exit_code(results: list[dict[str, Any]]) -> int:
    """0 when every file got a class, 3 when a file was rejected, else 4 when one is uncertain."""
    verdicts = {result["verdict"] for result in results}
    if "rejected" in verdicts:
        return EXIT_REJECTED
    return EXIT_UNCERTAIN if "uncertain" in verdicts else 0


def _diagnose(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.diagnose import diagnose_files

    config = config_from_args(DiagnoseConfig, args)
    results = diagnose_files(args.files, config)
    for result in results:
        if config.json:
            print(json.dumps(result, sort_keys=True))
            continue
        print(_diagnosis_line(result))
        if config.windows:
            scores = result["window_ood_scores"] or [None] * result["n_windows"]
            for start, name, confidence, score in zip(
                result["window_starts"],
                result["window_classes"],
                result["window_confidences"],
                scores,
                strict=True,
            ):
                ood = "" if score is None else f"  ood {score:.2f}"
                print(f"  window @ {start:>9d}: {name:<10} {confidence:.3f}{ood}")
    return diagnosis_exit_code(results)


def _cpc(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.cpc import run_cpc

    print_summary(run_cpc(config_from_args(CPCConfig, args)))
    return 0


def _ucr(args: argparse.Namespace) -> int:
    from contrastlab.pipelines.ucr import run_ucr

    print_summary(run_ucr(config_from_args(UCRConfig, args)))
    return 0


COMMANDS = {
    "bearing": (
        _bearing,
        BearingConfig,
        "bearing fault diagnosis: contrastive pretraining (--method simclr|supcon|cpc|siamese), "
        "few-label probe / fine-tuning / scratch baseline, cross-load test, model.pt",
    ),
    "cpc": (
        _cpc,
        CPCConfig,
        "CPC pretraining on a signal source (cwru, bearing-sim, ucr, or your own recordings: "
        "--source folder --data DIR), then a linear probe (none with --labels none)",
    ),
    "ucr": (
        _ucr,
        UCRConfig,
        "UCR / UEA evaluation on .ts files (--data, or the sets bundled with aeon): pretraining "
        "(e.g. --method ts2vec), then SVM / linear probe on frozen features",
    ),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    register_commands(subparsers, COMMANDS)
    help_text = (
        "diagnose recordings (.mat, .npy, .csv, .wav) with a bearing model.pt: each file gets a "
        "class, 'uncertain' (most windows unlike the training windows or unconfident) or "
        "'rejected' (with the reason). Exit status: 0 every file got a class, "
        f"{EXIT_REJECTED} some file was rejected, {EXIT_UNCERTAIN} none rejected but some "
        "uncertain, 2 a usage error"
    )
    parser = subparsers.add_parser("diagnose", help=help_text, description=help_text)
    parser.add_argument("files", nargs="+", help="recordings (.mat, .npy, .csv, .wav)")
    add_config_options(parser, DiagnoseConfig)
    parser.set_defaults(func=_diagnose)
