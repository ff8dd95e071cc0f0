"""Figures for reports: t-SNE of features, training curves, confusion matrix, envelope spectrum,
and generic x/y lines (benchmarks, few-label curves with error bars).

Every function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no
global backend switch, safe in headless jobs and threads), writes a PNG to ``path`` (parent folders
are created) and returns ``path`` as a :class:`pathlib.Path`. Arrays may be torch tensors, NumPy
arrays or sequences.

Classes keep one colour across every figure of a run: class ``c`` of ``K`` is
:func:`class_colour` ``(c, K)`` in the t-SNE scatter, on the confusion matrix's tick labels and in
the envelope spectra.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from contrastlab._atomic_files import atomic_write

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]

_DPI = 120
_MAX_ANNOTATED_CLASSES = 20
# Marker lines (defect frequencies) in dark shades that no class colour uses.
_MARKER_COLOURS = ("#444444", "#8b0000", "#00008b", "#006400", "#8b008b")


def _as_numpy(name: str, values: Any, ndim: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be array-like: {error}") from error
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def class_colour(index: int, num_classes: int) -> str:
    """The colour of class ``index`` of ``num_classes``, the same in every figure: matplotlib's
    ``tab10`` colours for up to 10 classes, ``tab20`` for up to 20, evenly spaced hues beyond."""
    if not 0 <= index < num_classes:
        raise ValueError(f"class index {index} is not in [0, {num_classes})")
    if num_classes <= 10:
        return f"C{index}"
    if num_classes <= 20:
        return to_hex(colormaps["tab20"](index))
    return to_hex(colormaps["hsv"](index / num_classes))


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG, atomically (a crash never leaves half an image)."""
    return atomic_write(
        path, lambda stream: figure.savefig(stream, format="png", dpi=_DPI, bbox_inches="tight")
    )


def plot_tsne(
    features: ArrayLike,
    labels: ArrayLike,
    class_names: Sequence[str] | None,
    path: str | Path,
    seed: int = 0,
    max_points: int = 2000,
    perplexity: float = 30.0,
    title: str = "t-SNE of features",
) -> Path:
    """2-D t-SNE scatter of ``features`` ([N, D]) coloured by ``labels`` ([N] int).

    At most ``max_points`` samples (a seeded uniform subsample) are embedded, since t-SNE costs
    O(N log N) per iteration with a large constant. ``perplexity`` is capped at ``(n - 1) / 3`` so
    small sets work. ``class_names[c]`` names class ``c`` in the legend and gives it
    :func:`class_colour` ``(c, len(class_names))`` (``None``: the indices, matplotlib's colours).
    """
    from sklearn.manifold import TSNE

    features = _as_numpy("features", features, 2).astype(np.float32)
    labels = _as_numpy("labels", labels, 1)
    if labels.shape[0] != features.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries for {features.shape[0]} features")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if not np.isfinite(features).all():
        raise ValueError("features contains NaN or inf values")
    if features.shape[0] < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {features.shape[0]}")
    if max_points < 4:
        raise ValueError(f"max_points must be >= 4, got {max_points}")
    classes = np.unique(labels)
    if class_names is not None and (classes.min() < 0 or classes.max() >= len(class_names)):
        raise ValueError(
            f"labels must lie in [0, {len(class_names)}) to be named by class_names, "
            f"got [{classes.min()}, {classes.max()}]"
        )

    rng = np.random.default_rng(seed)
    if features.shape[0] > max_points:
        keep = np.sort(rng.choice(features.shape[0], size=max_points, replace=False))
        features, labels = features[keep], labels[keep]
    n = features.shape[0]
    embedding = TSNE(
        n_components=2,
        perplexity=min(perplexity, (n - 1) / 3),
        init="pca" if features.shape[1] >= 2 else "random",
        learning_rate="auto",
        random_state=seed,
    ).fit_transform(features)

    figure = _new_figure(7, 6)
    axes = figure.add_subplot()
    for cls in np.unique(labels):
        points = embedding[labels == cls]
        name = class_names[cls] if class_names is not None else str(cls)
        colour = None if class_names is None else class_colour(int(cls), len(class_names))
        axes.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7, label=name, color=colour)
    if len(classes) <= _MAX_ANNOTATED_CLASSES:
        axes.legend(markerscale=2, fontsize="small", loc="best")
    axes.set_title(f"{title} ({n} points)")
    axes.set_xticks([])
    axes.set_yticks([])
    return _save(figure, path)


_PANELS = (
    ("loss", re.compile(r"loss", re.IGNORECASE), False),
    ("learning rate", re.compile(r"(^|_)lr($|_)|learning_rate", re.IGNORECASE), True),
    ("accuracy (%)", re.compile(r"acc|top\d", re.IGNORECASE), False),
)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number} is not valid JSON: {error}") from error
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}:{number} must hold a JSON object, got {type(record).__name__}"
            )
        records.append(record)
    return records


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plot_training_curves(
    metrics: str | Path | Sequence[Mapping[str, Any]],
    path: str | Path,
    x_key: str = "epoch",
) -> Path:
    """One panel each for losses, learning rates and accuracies against ``x_key``.

    ``metrics`` is a JSON-lines file (one object per line) or a list of dicts. A key goes to the
    loss panel when its name contains ``loss``; to the learning-rate panel (log scale) when it is
    ``lr``, contains ``learning_rate`` or has an ``lr`` part (``train_lr``); to the accuracy panel
    when it contains ``acc`` or ``top1`` / ``top5``. Each key is drawn over the records holding a
    number for it, at ``record[x_key]`` (the record's 1-based position when absent). Panels without
    any key are skipped; no plottable key at all is a ``ValueError``.
    """
    records = _read_jsonl(Path(metrics)) if isinstance(metrics, (str, Path)) else list(metrics)
    if not all(isinstance(record, Mapping) for record in records):
        raise ValueError("metrics must be a JSON-lines path or a sequence of dicts")

    panels: list[tuple[str, bool, dict[str, tuple[list[float], list[float]]]]] = []
    for title, pattern, log_scale in _PANELS:
        curves: dict[str, tuple[list[float], list[float]]] = {}
        for position, record in enumerate(records, start=1):
            x = record.get(x_key, position)
            for key, value in record.items():
                if key != x_key and pattern.search(key) and _is_number(value) and _is_number(x):
                    xs, ys = curves.setdefault(key, ([], []))
                    xs.append(float(x))
                    ys.append(float(value))
        if curves:
            panels.append((title, log_scale, curves))
    if not panels:
        raise ValueError("metrics hold no numeric loss, learning-rate or accuracy keys to plot")

    figure = _new_figure(5 * len(panels), 4)
    for column, (title, log_scale, curves) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), column)
        for key, (xs, ys) in sorted(curves.items()):
            axes.plot(xs, ys, label=key, marker="." if len(xs) < 50 else None)
        if log_scale and all(y > 0 for _, ys in curves.values() for y in ys):
            axes.set_yscale("log")
        axes.set_xlabel(x_key)
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return _save(figure, path)


def plot_confusion_matrix(
    cm: ArrayLike,
    class_names: Sequence[str],
    path: str | Path,
    normalize: bool = True,
    title: str = "confusion matrix",
) -> Path:
    """Heat map of ``cm`` ([C, C] counts, true class on rows, prediction on columns).

    ``normalize`` divides each row by its total (per-class recall). A row without any window (a
    class with no recording in the set) is greyed out and marked "no recording" instead of a row
    of zeros that would read as "never recognised". Cells are annotated when ``C <= 20``; tick
    labels take the classes' colours (:func:`class_colour`).
    """
    matrix = _as_numpy("cm", cm, 2).astype(np.float64)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"cm must be square [C, C], got shape {matrix.shape}")
    if len(class_names) != matrix.shape[0]:
        raise ValueError(f"class_names has {len(class_names)} names for {matrix.shape[0]} classes")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError("cm must hold finite counts >= 0")
    empty = matrix.sum(axis=1) == 0
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)

    count = len(class_names)
    size = max(4.0, 0.5 * count + 2)
    figure = _new_figure(size + 1, size)
    axes = figure.add_subplot()
    shown = np.ma.masked_array(matrix, mask=np.repeat(empty[:, None], count, axis=1))
    cmap = colormaps["Blues"].with_extremes(bad="0.85")
    image = axes.imshow(shown, cmap=cmap, vmin=0, vmax=1 if normalize else None)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(count)
    axes.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(ticks, labels=list(class_names))
    for labels in (axes.get_xticklabels(), axes.get_yticklabels()):
        for index, label in enumerate(labels):
            label.set_color(class_colour(index, count))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title + (" (row-normalised)" if normalize else ""))
    for row in np.flatnonzero(empty):
        axes.text((count - 1) / 2, row, "no recording", ha="center", va="center", fontsize=9)
    if count <= _MAX_ANNOTATED_CLASSES:
        threshold = matrix.max() / 2 if matrix.max() > 0 else 1
        for row, column in np.ndindex(matrix.shape):
            if empty[row]:
                continue
            value = matrix[row, column]
            text = f"{value:.2f}" if normalize else f"{value:.0f}"
            colour = "white" if value > threshold else "black"
            axes.text(column, row, text, ha="center", va="center", color=colour, fontsize=8)
    return _save(figure, path)


def harmonic_frequencies(
    frequency_hz: float, max_frequency_hz: float, max_harmonics: int
) -> list[float]:
    """``[k f for k = 1, 2, ...]`` up to ``max_harmonics`` and ``<= max_frequency_hz``."""
    if not frequency_hz > 0:
        raise ValueError(f"frequency_hz must be > 0, got {frequency_hz!r}")
    count = min(max_harmonics, math.floor(max_frequency_hz / frequency_hz))
    return [k * frequency_hz for k in range(1, count + 1)]


def plot_envelope_spectrum(
    freqs: ArrayLike,
    amplitude: ArrayLike,
    path: str | Path,
    markers: Mapping[str, float] | None = None,
    max_frequency_hz: float | None = None,
    title: str = "envelope spectrum",
    harmonics: int = 1,
    colour: str = "black",
    highlight: str | None = None,
) -> Path:
    """Amplitude against frequency (``freqs`` [F] in Hz, ``amplitude`` [F]) drawn in ``colour``,
    with a dashed vertical line at each named frequency of ``markers`` (e.g. ``{"BPFO": 107.4,
    "BPFI": 162.2}`` bearing fault frequencies) and dotted ones at its harmonics ``2f, 3f, ...``
    up to the ``harmonics``-th (:func:`harmonic_frequencies`); the marker named ``highlight`` is
    drawn thicker. ``max_frequency_hz`` crops the x-axis."""
    freqs = _as_numpy("freqs", freqs, 1).astype(np.float64)
    amplitude = _as_numpy("amplitude", amplitude, 1).astype(np.float64)
    if freqs.shape != amplitude.shape:
        raise ValueError(f"freqs {freqs.shape} and amplitude {amplitude.shape} must match")
    markers = dict(markers or {})
    for name, frequency in markers.items():
        if not _is_number(frequency) or not math.isfinite(frequency) or frequency <= 0:
            raise ValueError(f"marker {name!r} must be a frequency > 0 in Hz, got {frequency!r}")
    if highlight is not None and highlight not in markers:
        raise ValueError(f"highlight {highlight!r} is not one of the markers {list(markers)}")
    if max_frequency_hz is not None and not max_frequency_hz > 0:
        raise ValueError(f"max_frequency_hz must be > 0, got {max_frequency_hz!r}")
    if isinstance(harmonics, bool) or not isinstance(harmonics, int) or harmonics < 1:
        raise ValueError(f"harmonics must be an integer >= 1, got {harmonics!r}")

    figure = _new_figure(9, 4)
    axes = figure.add_subplot()
    axes.plot(freqs, amplitude, linewidth=0.8, color=colour)
    limit = float(freqs.max()) if max_frequency_hz is None else max_frequency_hz
    for index, (name, frequency) in enumerate(markers.items()):
        lines = harmonic_frequencies(frequency, max(limit, frequency), harmonics)
        orders = f" (x1-{len(lines)})" if len(lines) > 1 else ""
        for order, line in enumerate(lines, start=1):
            axes.axvline(
                line,
                linestyle="--" if order == 1 else ":",
                linewidth=2.0 if name == highlight else 1.0,
                color=_MARKER_COLOURS[index % len(_MARKER_COLOURS)],
                label=f"{name} = {frequency:g} Hz{orders}" if order == 1 else None,
            )
    if max_frequency_hz is not None:
        axes.set_xlim(max(0.0, float(freqs.min())), max_frequency_hz)
    axes.set_xlabel("frequency (Hz)")
    axes.set_ylabel("amplitude")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if markers:
        axes.legend(fontsize="small")
    return _save(figure, path)


def plot_lines(
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    errors: Mapping[str, ArrayLike] | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Generic x/y lines, one per ``series`` entry ``name -> (x [P], y [P])``, e.g. runtime against
    batch size for benchmarks (scaling plots). ``errors[name]`` ([P], >= 0) draws error bars
    ``y +- error``; ``styles[name]`` holds matplotlib line options (``color``, ``linestyle``).
    Log axes require positive values."""
    if not series:
        raise ValueError("series must hold at least one (x, y) entry")
    errors, styles = dict(errors or {}), dict(styles or {})
    unknown = sorted((set(errors) | set(styles)) - set(series))
    if unknown:
        raise ValueError(f"errors / styles name series that do not exist: {unknown}")
    figure = _new_figure(6, 4.5)
    axes = figure.add_subplot()
    for name, pair in series.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"series[{name!r}] must be an (x, y) pair")
        x = _as_numpy(f"series[{name!r}] x", pair[0], 1).astype(np.float64)
        y = _as_numpy(f"series[{name!r}] y", pair[1], 1).astype(np.float64)
        if x.shape != y.shape:
            raise ValueError(f"series[{name!r}] has {x.size} x values and {y.size} y values")
        for axis, values, is_log in (("x", x, logx), ("y", y, logy)):
            if is_log and (values <= 0).any():
                raise ValueError(f"series[{name!r}] has {axis} values <= 0 on a log {axis}-axis")
        error = None
        if name in errors:
            error = _as_numpy(f"errors[{name!r}]", errors[name], 1).astype(np.float64)
            if error.shape != y.shape or not np.isfinite(error).all() or (error < 0).any():
                raise ValueError(f"errors[{name!r}] must be {y.size} finite values >= 0")
        options = {"marker": "o", **styles.get(name, {})}
        axes.errorbar(x, y, yerr=error, label=name, capsize=3 if error is not None else 0,
                      **options)  # fmt: skip
    if logx:
        axes.set_xscale("log")
    if logy:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    return _save(figure, path)


def draw_run_figures(
    run_dir: Path,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    class_names: list[str],
    seed: int,
    tsne: bool = True,
    title: str = "t-SNE of frozen test features",
) -> None:
    """The figures of a pretraining run: ``training_curves.png`` from ``metrics.jsonl`` and,
    unless ``tsne`` is off, ``tsne_test.png`` of the frozen test features."""
    plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
    if tsne:
        plot_tsne(test_features, test_labels, class_names, run_dir / "tsne_test.png", seed=seed,
                  title=title)  # fmt: skip
