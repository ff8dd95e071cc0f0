"""The figures of a bearing run: confusion matrices, t-SNE, envelope spectra, curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlab.config.signal import BearingConfig
from contrastlab.data.bearing_sim import LOAD_RPM, SKF_6205
from contrastlab.data.spectra import envelope_spectrum
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.features import extract_features
from contrastlab.evaluation.metrics import accuracy, confusion_matrix
from contrastlab.evaluation.plots import (
    plot_confusion_matrix,
    plot_envelope_spectrum,
    plot_lines,
    plot_training_curves,
    plot_tsne,
)
from contrastlab.models.signal_networks import SignalClassifier


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


def _defect_frequencies(shaft_hz: float) -> dict[str, float]:
    return {
        "shaft": round(shaft_hz, 2),
        "BPFO": round(SKF_6205.bpfo(shaft_hz), 2),
        "BPFI": round(SKF_6205.bpfi(shaft_hz), 2),
        "BSF": round(SKF_6205.bsf(shaft_hz), 2),
    }


def plot_class_envelope_spectra(data: DataSplits, run_dir: Path, load_hp: int) -> dict[str, str]:
    """One PNG per class present in the test split: the mean envelope spectrum of its test windows
    (first channel), with the SKF 6205 defect frequencies at the recorded shaft speed."""
    sample_rate_hz = float(data.metadata["sample_rate_hz"])
    records = data.metadata.get("records", [])
    paths = {}
    for label in torch.unique(data.test.labels).tolist():
        name = data.class_names[label]
        windows = data.test.inputs[data.test.labels == label][:, 0].double().numpy()
        freqs, amplitude = envelope_spectrum(windows, sample_rate_hz)
        rpms = [r["rpm"] for r in records if r.get("label") == label and r.get("rpm")]
        rpm = float(np.mean(rpms)) if rpms else LOAD_RPM.get(load_hp, 1797.0)
        markers = _defect_frequencies(rpm / 60.0)
        safe = name.replace("@", "at")
        path = plot_envelope_spectrum(
            freqs,
            amplitude.mean(axis=0),
            run_dir / "envelope_spectra" / f"{label:02d}_{safe}.png",
            markers=markers,
            max_frequency_hz=4.2 * markers["BPFI"],
            title=f"envelope spectrum, {name} ({windows.shape[0]} test windows, {rpm:.0f} rpm)",
        )
        paths[name] = str(path)
    return paths


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
    features, per-class envelope spectra and the few-label curve; returns their paths."""
    plots: dict[str, Any] = {}
    plots["training_curves"] = str(
        plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
    )
    sets = {"test": (data.test, features.test)}
    if cross is not None and features.cross is not None:
        sets["cross_load"] = (cross, features.cross)
    for name, (split, split_features) in sets.items():
        predictions = predict_classes(final, split.inputs, config.eval_batch_size)
        score = accuracy(predictions, split.labels)
        cm = confusion_matrix(predictions, split.labels, data.num_classes)
        plots[f"confusion_{name}"] = str(
            plot_confusion_matrix(
                cm,
                data.class_names,
                run_dir / f"confusion_{name}.png",
                title=f"model.pt on {name} ({score:.2f}%)",
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
    plots["envelope_spectra"] = plot_class_envelope_spectra(data, run_dir, config.train_load)
    plots["few_label"] = str(plot_few_label_curve(few_label, run_dir / "few_label.png"))
    return plots


def plot_few_label_curve(results: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    series = {}
    for evaluator, table in results.items():
        x = [entry["n_labeled"] for entry in table.values()]
        series[evaluator] = (x, [entry["mean"] for entry in table.values()])
    return plot_lines(
        series,
        path,
        xlabel="labelled training windows",
        ylabel="test accuracy (%)",
        logx=True,
        title="few-label test accuracy (mean over draws)",
    )
