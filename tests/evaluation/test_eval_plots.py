"""Plots: each function writes a valid, non-trivial PNG and rejects bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from threadpoolctl import threadpool_limits

from contrastlab.evaluation import plots


def assert_png(path: Path, min_width: int = 200) -> None:
    assert path.is_file()
    assert path.stat().st_size > 5_000  # more than an empty canvas
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= min_width and height >= 150
        pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 5  # something was drawn


def test_tsne(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 3
    features = 5 * torch.eye(3, 10)[labels] + torch.randn(120, 10, generator=generator)
    # One OpenMP thread: t-SNE's spin-waiting threads crawl on a shared, busy CPU.
    with threadpool_limits(limits=1):
        path = plots.plot_tsne(
            features, labels, ["a", "b", "c"], tmp_path / "sub" / "tsne.png", max_points=90
        )
    assert path == tmp_path / "sub" / "tsne.png"
    assert_png(path)
    with pytest.raises(ValueError, match="labels has 3 entries"):
        plots.plot_tsne(features, labels[:3], None, tmp_path / "x.png")
    with pytest.raises(ValueError, match="class_names"):
        plots.plot_tsne(features, labels, ["a", "b"], tmp_path / "x.png")


def test_training_curves_from_jsonl_and_dicts(tmp_path: Path) -> None:
    records = [
        {"epoch": e, "loss": 3.0 / e, "lr": 0.5 * 0.9**e, "val_top1": 50 + 4 * e, "note": "x"}
        for e in range(1, 11)
    ]
    records.append({"epoch": 10, "knn_acc": 91.0})
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert_png(plots.plot_training_curves(metrics, tmp_path / "curves.png"), min_width=600)
    # Missing panels are skipped: a loss-only log gives one panel.
    only_loss = plots.plot_training_curves([{"loss": 1.0}, {"loss": 0.5}], tmp_path / "loss.png")
    with Image.open(only_loss) as single, Image.open(tmp_path / "curves.png") as triple:
        assert single.size[0] < triple.size[0]
    with pytest.raises(ValueError, match="no numeric loss"):
        plots.plot_training_curves([{"epoch": 1, "note": "x"}], tmp_path / "none.png")
    metrics.write_text('{"loss": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2 is not valid JSON"):
        plots.plot_training_curves(metrics, tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError):
        plots.plot_training_curves(tmp_path / "missing.jsonl", tmp_path / "bad.png")


def test_confusion_matrix(tmp_path: Path) -> None:
    cm = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])  # an empty row must not divide by zero
    for normalize in (True, False):
        assert_png(
            plots.plot_confusion_matrix(cm, ["n", "ir", "or"], tmp_path / "cm.png", normalize)
        )
    # The empty row is drawn grey with "no recording", unlike a row of zero recall.
    empty = plots.plot_confusion_matrix(cm, ["n", "ir", "or"], tmp_path / "empty.png")
    recall_zero = np.array([[8, 2, 0], [1, 9, 0], [5, 5, 0]])
    zero = plots.plot_confusion_matrix(recall_zero, ["n", "ir", "or"], tmp_path / "zero.png")
    with Image.open(empty) as first, Image.open(zero) as second:
        assert first.size == second.size
        differ = np.asarray(first.convert("L")) != np.asarray(second.convert("L"))
    rows = np.flatnonzero(differ.any(axis=1))
    assert rows.min() > first.size[1] // 2  # only the bottom (third) row differs
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.ones((2, 3)), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="class_names has 2 names for 3 classes"):
        plots.plot_confusion_matrix(cm, ["a", "b"], tmp_path / "x.png")


def test_envelope_spectrum(tmp_path: Path) -> None:
    freqs = np.linspace(0, 500, 1001)
    amplitude = np.exp(-(((freqs - 107.4) / 2) ** 2)) + 0.05
    path = plots.plot_envelope_spectrum(
        torch.from_numpy(freqs), amplitude, tmp_path / "env.png",
        markers={"BPFO": 107.4, "BPFI": 162.2}, max_frequency_hz=300,
    )  # fmt: skip
    assert_png(path, min_width=600)
    with pytest.raises(ValueError, match="must match"):
        plots.plot_envelope_spectrum(freqs, amplitude[:5], tmp_path / "x.png")
    with pytest.raises(ValueError, match="marker 'BPFO'"):
        plots.plot_envelope_spectrum(freqs, amplitude, tmp_path / "x.png", {"BPFO": "fast"})


def test_lines(tmp_path: Path) -> None:
    sizes = [64, 128, 256, 512]
    series = {"dense": (sizes, [1.0, 3.9, 16.2, 64.5]), "blocked": (sizes, [1.1, 2.2, 4.5, 9.0])}
    path = plots.plot_lines(
        series, tmp_path / "lines.png", "batch size", "ms", logx=True, logy=True
    )
    assert_png(path)
    with pytest.raises(ValueError, match="values <= 0 on a log y-axis"):
        plots.plot_lines({"a": ([1, 2], [0, 1])}, tmp_path / "x.png", "x", "y", logy=True)
    with pytest.raises(ValueError, match="2 x values and 3 y values"):
        plots.plot_lines({"a": ([1, 2], [1, 2, 3])}, tmp_path / "x.png", "x", "y")
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_lines({}, tmp_path / "x.png", "x", "y")


def test_class_colours_are_fixed_and_distinct() -> None:
    ten = [plots.class_colour(i, 10) for i in range(10)]
    assert ten == [f"C{i}" for i in range(10)]
    twenty = [plots.class_colour(i, 20) for i in range(20)]
    assert len(set(twenty)) == 20 and twenty == [plots.class_colour(i, 20) for i in range(20)]
    assert len({plots.class_colour(i, 30) for i in range(30)}) == 30
    with pytest.raises(ValueError, match="class index 10"):
        plots.class_colour(10, 10)


def test_harmonic_frequencies() -> None:
    assert plots.harmonic_frequencies(100.0, 350.0, 5) == [100.0, 200.0, 300.0]
    assert plots.harmonic_frequencies(100.0, 1000.0, 2) == [100.0, 200.0]
    assert plots.harmonic_frequencies(100.0, 99.0, 3) == []
    with pytest.raises(ValueError, match="frequency_hz"):
        plots.harmonic_frequencies(0.0, 100.0, 3)


def test_envelope_spectrum_with_harmonics_and_highlight(tmp_path: Path) -> None:
    freqs = np.linspace(0, 700, 1401)
    amplitude = sum(np.exp(-(((freqs - k * 162.2) / 2) ** 2)) / k for k in (1, 2, 3)) + 0.05
    markers = {"shaft": 29.95, "BPFO": 107.4, "BPFI": 162.2, "BSF": 70.6}
    path = plots.plot_envelope_spectrum(
        freqs, amplitude, tmp_path / "env.png", markers=markers, max_frequency_hz=680,
        harmonics=3, colour="C1", highlight="BPFI",
    )  # fmt: skip
    assert_png(path, min_width=600)
    with pytest.raises(ValueError, match="highlight 'BPF'"):
        plots.plot_envelope_spectrum(freqs, amplitude, tmp_path / "x.png", markers, highlight="BPF")
    with pytest.raises(ValueError, match="harmonics"):
        plots.plot_envelope_spectrum(freqs, amplitude, tmp_path / "x.png", markers, harmonics=0)


def test_lines_with_error_bars_and_styles(tmp_path: Path) -> None:
    x = [10, 50, 100]
    series = {"probe, test": (x, [90.0, 95.0, 99.0]), "probe, cross-load": (x, [80.0, 85.0, 90.0])}
    path = plots.plot_lines(
        series, tmp_path / "few.png", "labels", "accuracy (%)", logx=True,
        errors={"probe, test": [2.0, 1.0, 0.0]},
        styles={"probe, cross-load": {"color": "C0", "linestyle": "--"}},
    )  # fmt: skip
    assert_png(path)
    with pytest.raises(ValueError, match="finite values >= 0"):
        plots.plot_lines(series, tmp_path / "x.png", "x", "y", errors={"probe, test": [1, -1, 0]})
    with pytest.raises(ValueError, match="do not exist"):
        plots.plot_lines(series, tmp_path / "x.png", "x", "y", styles={"other": {}})
