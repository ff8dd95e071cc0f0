"""The figures of a bearing run: confusion matrices, t-SNE, envelope spectra, curves.

Each class keeps one colour in every figure (:func:`contrastlab.evaluation.plots.class_colour`).
The cross-load confusion matrix marks a class without a recording at the other load ("no
recording") instead of showing an empty row. The envelope spectra mark the bearing's defect
frequencies at the recordings' shaft speed (SKF 6205, the CWRU and simulator bearing) and their
harmonics, in Hz; the few-label figure shows in-load and cross-load accuracy against the labelled
windows, with the standard deviation over label draws as error bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlab.config.signal import BearingConfig
from contrastlab.data.bearing_sim import SKF_6205, BearingGeometry
from contrastlab.data.cwru import FAULT_TYPES
from contrastlab.data.spectra import envelope_spectrum
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.features import extract_features
from contrastlab.evaluation.metrics import accuracy, confusion_matrix
from contrastlab.evaluation.plots import (
    class_colour,
    plot_confusion_matrix,
    plot_envelope_spectrum,
    plot_lines,
    plot_training_curves,
    plot_tsne,
)
from contrastlab.models.signal_networks import SignalClassifier

DEFECT_HARMONICS = 3
# The defect line each fault type excites (a ball defect strikes at 2 BSF, a harmonic of BSF).
_FAULT_MARKERS = {"inner_race": "BPFI", "outer_race": "BPFO", "ball": "BSF"}


@dataclass
class BearingFeatures:
    """Frozen encoder features ``[N, D]`` of each split and of the cross-load set."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    cross: torch.Tensor | None


@torch.no_grad()
def predict_classes(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Class predictions ``[N]`` of a classifier (logits ``[N, C]``) over ``inputs``."""
    return extract_features(model, inputs, batch_size=batch_size).argmax(dim=1)


def defect_frequencies(shaft_hz: float, geometry: BearingGeometry = SKF_6205) -> dict[str, float]:
    """``{"shaft", "BPFO", "BPFI", "BSF"}`` in Hz at shaft frequency ``shaft_hz``."""
    return {
        "shaft": round(shaft_hz, 2),
        "BPFO": round(geometry.bpfo(shaft_hz), 2),
        "BPFI": round(geometry.bpfi(shaft_hz), 2),
        "BSF": round(geometry.bsf(shaft_hz), 2),
    }


def fault_marker(class_name: str) -> str | None:
    """The defect line a class excites (``IR014`` / ``inner_race`` -> ``BPFI``), ``None`` for
    ``normal`` or a class that names no fault type."""
    for prefix, fault_type in FAULT_TYPES.items():
        if class_name == fault_type or class_name.upper().startswith(prefix):
            return _FAULT_MARKERS[fault_type]
    return None


def _class_rpm(data: DataSplits, label: int) -> float | None:
    speeds = [r.get("rpm") for r in data.metadata.get("records", []) if r.get("label") == label]
    speeds = [float(s) for s in speeds if s]
    return float(np.mean(speeds)) if speeds else None


def plot_class_envelope_spectra(
    data: DataSplits, run_dir: Path, geometry: BearingGeometry | None = SKF_6205
) -> dict[str, str]:
    """One PNG per class present in the test split: the mean envelope spectrum of its test windows
    (first channel) in the class's colour, with the defect frequencies of ``geometry`` at the
    class's recorded shaft speed and their harmonics (the class's own line thicker). Without a
    recorded speed or a geometry (``None``: a folder of unknown bearings) the axes stay bare."""
    sample_rate_hz = float(data.metadata["sample_rate_hz"])
    paths = {}
    for label in torch.unique(data.test.labels).tolist():
        name = data.class_names[label]
        windows = data.test.inputs[data.test.labels == label][:, 0].double().numpy()
        freqs, amplitude = envelope_spectrum(windows, sample_rate_hz)
        rpm = _class_rpm(data, label)
        markers = {} if rpm is None or geometry is None else defect_frequencies(rpm / 60, geometry)
        highlight = fault_marker(name) if markers else None
        speed = "" if rpm is None else f", {rpm:.0f} rpm"
        path = plot_envelope_spectrum(
            freqs,
            amplitude.mean(axis=0),
            run_dir / "envelope_spectra" / f"{label:02d}_{name.replace('@', 'at')}.png",
            markers=markers,
            max_frequency_hz=4.2 * markers["BPFI"] if markers else sample_rate_hz / 8,
            title=f"envelope spectrum, {name} ({windows.shape[0]} test windows{speed})",
            harmonics=DEFECT_HARMONICS,
            colour=class_colour(label, data.num_classes),
            highlight=highlight,
        )
        paths[name] = str(path)
    return paths


def _confusion_figures(
    config: BearingConfig,
    run_dir: Path,
    data: DataSplits,
    sets: dict[str, tuple[LabeledTensors, torch.Tensor]],
    final: SignalClassifier,
) -> dict[str, str]:
    plots = {}
    for name, (split, split_features) in sets.items():
        predictions = predict_classes(final, split.inputs, config.eval_batch_size)
        score = accuracy(predictions, split.labels)
        cm = confusion_matrix(predictions, split.labels, data.num_classes)
        plots[f"confusion_{name}"] = str(
            plot_confusion_matrix(
                cm,
                data.class_names,
                run_dir / f"confusion_{name}.png",
                title=f"model.pt on {name} ({score:.2f}% of {len(split)} windows)",
            )
        )
        if config.tsne:
            plots[f"tsne_{name}"] = str(
                plot_tsne(
                    split_features,
                    split.labels,
                    data.class_names,
                    run_dir / f"tsne_{name}.png",
                    seed=config.seed,
                    title=f"t-SNE of frozen {config.method} features, {name}",
                )
            )
    return plots


def draw_bearing_figures(
    config: BearingConfig,
    run_dir: Path,
    data: DataSplits,
    cross: LabeledTensors | None,
    features: BearingFeatures,
    final: SignalClassifier,
    few_label: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """Training curves, confusion matrices of ``final`` (test and cross-load), t-SNE of the frozen
    features, per-class envelope spectra and the few-label curves; returns their paths."""
    plots: dict[str, Any] = {}
    plots["training_curves"] = str(
        plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
    )
    sets = {"test": (data.test, features.test)}
    if cross is not None and features.cross is not None:
        sets["cross_load"] = (cross, features.cross)
    plots.update(_confusion_figures(config, run_dir, data, sets, final))
    geometry = None if config.source == "folder" else SKF_6205
    plots["envelope_spectra"] = plot_class_envelope_spectra(data, run_dir, geometry)
    plots["few_label"] = str(plot_few_label_curve(few_label, run_dir / "few_label.png"))
    return plots


def plot_few_label_curve(results: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    """Mean accuracy against labelled training windows per evaluator, with the standard deviation
    over draws as error bars: in-load test (solid) and, when measured, cross-load (dashed, same
    colour)."""
    series, errors, styles = {}, {}, {}
    for index, (evaluator, table) in enumerate(results.items()):
        entries = list(table.values())
        x = [entry["n_labeled"] for entry in entries]
        curves = {"test": [(e["mean"], e["std"]) for e in entries]}
        if all("cross_load" in e for e in entries):
            curves["cross-load"] = [
                (e["cross_load"]["mean"], e["cross_load"]["std"]) for e in entries
            ]
        for kind, points in curves.items():
            name = f"{evaluator}, {kind}"
            series[name] = (x, [mean for mean, _ in points])
            errors[name] = [std for _, std in points]
            styles[name] = {"color": f"C{index}", "linestyle": "-" if kind == "test" else "--"}
    return plot_lines(
        series,
        path,
        xlabel="labelled training windows",
        ylabel="accuracy (%)",
        logx=True,
        title="few-label accuracy (mean and std over label draws)",
        errors=errors,
        styles=styles,
    )
