"""A folder of the user's own recordings as a signal source: ``load_signal_source("folder", DIR)``.

Files (``.npy``, ``.csv``, ``.wav``, ``.mat``, read by
:func:`contrastlab.data.recordings.read_recording`) are found recursively; hidden files and
folders (``.name``) are passed over, and files of other types are listed in
``metadata["ignored_files"]``. Two layouts:

- ``labels="folders"``: ``DIR/<class>/<file>`` (or deeper under ``<class>/``). Every sub-folder
  of ``DIR`` is a class, in sorted order (its index is the label); at least two are needed, each
  with at least one readable recording, and no recording may lie directly in ``DIR``.
- ``labels="none"``: recordings anywhere under ``DIR``, unlabelled. Every window then has label
  :data:`UNLABELLED` (-1) and ``class_names`` is empty: the windows serve self-supervised
  pretraining or calibration, never a classifier's training targets.

Sample rate: ``sample_rate_hz`` is required when any file has a format that does not store its
rate (``.npy``, ``.csv``, ``.mat``). Without it, every file must be a ``.wav`` and the source's
rate is that of the first readable one (in sorted path order). A ``.wav`` whose rate is not the
source's is a bad file (an error naming the file and both rates) unless
``on_rate_mismatch="resample"``, which resamples it
(:func:`contrastlab.data.resample.resample_signal`) to the source's rate.

Every file is checked at load, before any window is cut: its values with
:func:`contrastlab.data.recording_checks.check_recording` at its own rate (NaN / inf, flat line,
clipping), its length at the source's rate (each split's time segment must hold a window). A file
that cannot be read or fails a check is a *bad file*: ``on_bad_file="error"`` raises a
``ValueError`` naming it and the problem; ``"skip"`` leaves it out, warns once with the count and
lists each in ``metadata["skipped_files"]``. All recordings must have the same number of channels,
and files of one format the same channel names (:func:`common_channels`); that is always an
error.

Windows are cut by time inside each recording exactly as for CWRU
(:func:`contrastlab.data.windows.windowed_splits`): the first ``split_fractions[0]`` of each
recording's samples give the training windows, the next the validation ones, the rest the test
ones, so no window straddles two splits; ``normalize="standard"`` fits per-channel statistics on
the training windows only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contrastlab._values import check_choice, check_int, check_positive
from contrastlab.config.choices import BAD_FILE_POLICIES, RATE_MISMATCH_POLICIES
from contrastlab.config.choices import FOLDER_LABELS as LABEL_MODES
from contrastlab.data.recording_checks import (
    QualityThresholds,
    check_recording,
    too_short_problem,
)
from contrastlab.data.recordings import (
    LAYOUTS,
    SUPPORTED_SUFFIXES,
    RecordingError,
    read_recording,
)
from contrastlab.data.resample import resample_signal
from contrastlab.data.splits import DataSplits
from contrastlab.data.windows import (
    NORMALIZATIONS,
    check_segments_hold_a_window,
    check_split_fractions,
    windowed_splits,
)

UNLABELLED = -1
_RATED_SUFFIXES = (".wav",)


@dataclass(frozen=True)
class FolderListing:
    """The recordings under a folder: ``files`` (sorted paths), ``labels`` (one per file,
    :data:`UNLABELLED` without classes), ``class_names`` and ``ignored`` (unsupported files)."""

    files: list[Path]
    labels: list[int]
    class_names: list[str]
    ignored: list[Path]


def _visible_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def list_recordings(data_dir: str | os.PathLike[str], labels: str = "folders") -> FolderListing:
    """Find the recordings under ``data_dir`` and their classes (module docstring).

    Raises ``FileNotFoundError`` for a missing folder or one without recordings, and
    ``ValueError`` for ``labels="folders"`` with fewer than two class folders, a class folder
    without recordings, or recordings lying directly in ``data_dir``.
    """
    check_choice("labels", labels, LABEL_MODES)
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"recordings folder not found: {root}")
    found = _visible_files(root)
    files = [p for p in found if p.suffix.lower() in SUPPORTED_SUFFIXES]
    ignored = [p for p in found if p.suffix.lower() not in SUPPORTED_SUFFIXES]
    if not files:
        raise FileNotFoundError(
            f"no recording ({', '.join(SUPPORTED_SUFFIXES)}) under {root}"
            + (f"; it holds only {[p.name for p in ignored[:5]]}" if ignored else "")
        )
    if labels == "none":
        return FolderListing(files, [UNLABELLED] * len(files), [], ignored)
    loose = [p.name for p in files if p.parent == root]
    if loose:
        raise ValueError(
            f"with labels='folders' every recording must lie in a class folder {root}/<class>/, "
            f"but {loose[:5]} lie directly in {root}; move them, or use labels='none'"
        )
    class_names = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if len(class_names) < 2:
        raise ValueError(
            f"{root} has {len(class_names)} class folder(s) {class_names}; a labelled folder needs "
            "at least two (one sub-folder per class), or use labels='none'"
        )
    classes = [p.relative_to(root).parts[0] for p in files]
    empty = [name for name in class_names if name not in classes]
    if empty:
        raise ValueError(f"class folder(s) {empty} under {root} hold no recording file")
    return FolderListing(files, [class_names.index(c) for c in classes], class_names, ignored)


@dataclass(frozen=True)
class _Loaded:
    signal: np.ndarray
    channel_names: tuple[str, ...]
    file_rate_hz: float | None


def _read_options_for(path: Path, read_options: dict[str, Any]) -> dict[str, Any]:
    """The ``read_recording`` options that apply to ``path``'s format (module docstring)."""
    suffix = path.suffix.lower()
    options = {k: v for k, v in read_options.items() if v is not None}
    if suffix != ".mat":
        options.pop("variable", None)
    if suffix not in (".npy", ".mat") or (suffix == ".mat" and "variable" not in options):
        options.pop("layout", None)
    return options


def _load_checked(
    path: Path,
    rate_hz: float | None,
    window_length: int,
    split_fractions: tuple[float, float, float],
    read_options: dict[str, Any],
    on_rate_mismatch: str,
    thresholds: QualityThresholds,
) -> _Loaded:
    """One recording at the source's rate ``rate_hz`` (``None``: the file's own), checked.

    Raises :class:`~contrastlab.data.recordings.RecordingError` naming the file for every problem
    of the file; a bad option raises a plain ``ValueError``.
    """
    recording = read_recording(path, **_read_options_for(path, read_options))
    file_rate = recording.sample_rate_hz
    problems = check_recording(
        recording.signal, file_rate, channel_names=recording.channel_names, thresholds=thresholds
    )
    if problems:
        raise RecordingError(f"{path}: " + "; ".join(p.message for p in problems))
    signal = recording.signal
    rate = file_rate if rate_hz is None else rate_hz
    if rate is None:
        raise ValueError(f"{path} does not store its sample rate: pass sample_rate_hz")
    try:
        if file_rate is not None and file_rate != rate:
            if on_rate_mismatch == "error":
                raise ValueError(
                    f"its sample rate is {file_rate:g} Hz, not the source's {rate:g} Hz; pass "
                    "on_rate_mismatch='resample' to resample it"
                )
            signal = resample_signal(signal, file_rate, rate)
        short = too_short_problem(signal.shape[1], window_length, rate)
        if short is not None:
            raise ValueError(short.message)
        check_segments_hold_a_window(signal.shape[1], window_length, split_fractions)
    except ValueError as error:
        raise RecordingError(f"{path}: {error}") from error
    return _Loaded(signal, recording.channel_names, file_rate)


def _common_rate(files: Sequence[Path], sample_rate_hz: float | None) -> float | None:
    """``sample_rate_hz``, or ``None`` when every file is a rated format (the rate is read)."""
    if sample_rate_hz is not None:
        check_positive("sample_rate_hz", sample_rate_hz)
        return float(sample_rate_hz)
    unrated = [p.name for p in files if p.suffix.lower() not in _RATED_SUFFIXES]
    if unrated:
        raise ValueError(
            f"{unrated[:5]} do not store their sample rate: pass sample_rate_hz (the rate of "
            "the .npy / .csv / .mat recordings, in Hz)"
        )
    return None


def _describe(groups: dict[Any, list[str]], what: str) -> str:
    return "; ".join(f"{what(key)} in {files[:3]}" for key, files in groups.items())


def common_channels(loaded: dict[Path, tuple[str, ...]], root: Path) -> list[str]:
    """The channel names of recordings ``{path: names}``: their names when all agree, else
    ``ch0, ch1, ...``.

    Raises ``ValueError`` when channel counts differ, or when two files of the same format name
    their channels differently (two CSV headers in another order would otherwise mix columns
    silently); across formats only the count must agree (``.npy`` channels are ``ch0``, a ``.mat``
    variable's is its name).
    """
    counts: dict[int, list[str]] = {}
    names_by_format: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for path, names in loaded.items():
        relative = str(path.relative_to(root))
        counts.setdefault(len(names), []).append(relative)
        names_by_format.setdefault((path.suffix.lower(), names), []).append(relative)
    if len(counts) > 1:
        raise ValueError(
            f"the recordings under {root} differ in their channel counts: "
            + _describe(counts, lambda count: f"{count} channel(s)")
        )
    formats = [suffix for suffix, _ in names_by_format]
    if len(set(formats)) != len(formats):
        raise ValueError(
            f"the recordings under {root} name their channels differently: "
            + _describe(names_by_format, lambda key: f"{key[0]} channels {list(key[1])}")
            + "; pass channels=[...] to choose them by name"
        )
    distinct = {names for _, names in names_by_format}
    if len(distinct) == 1:
        return list(next(iter(distinct)))
    return [f"ch{i}" for i in range(next(iter(counts)))]


def _load_all(
    files: Sequence[Path],
    root: Path,
    rate_hz: float | None,
    load: Callable[[Path, float | None], _Loaded],
    on_bad_file: str,
) -> tuple[dict[Path, _Loaded], list[dict[str, str]], float | None]:
    """``(loaded files, skipped files, the source's rate)``: each file through ``load`` at the
    source's rate (``None`` until the first readable ``.wav`` sets it); a bad file raises or is
    skipped with one warning for all (module docstring)."""
    loaded: dict[Path, _Loaded] = {}
    skipped: list[dict[str, str]] = []
    for path in files:
        try:
            loaded[path] = load(path, rate_hz)
        except RecordingError as error:
            if on_bad_file == "error":
                raise
            skipped.append({"file": str(path.relative_to(root)), "problem": str(error)})
            continue
        if rate_hz is None:  # all .wav and no sample_rate_hz: the first readable file's rate
            rate_hz = loaded[path].file_rate_hz
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} of {len(files)} recordings under {root} (see "
            f"metadata['skipped_files']): {skipped[0]['file']}: {skipped[0]['problem']}"
            + (" ..." if len(skipped) > 1 else ""),
            stacklevel=3,
        )
    return loaded, skipped, rate_hz


def load_folder_splits(
    data_dir: str | os.PathLike[str],
    sample_rate_hz: float | None = None,
    window_length: int = 2048,
    stride: int | None = None,
    labels: str = "folders",
    channels: str | Sequence[str] | None = None,
    variable: str | None = None,
    layout: str | None = None,
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    normalize: str = "standard",
    on_bad_file: str = "error",
    on_rate_mismatch: str = "error",
    thresholds: QualityThresholds | None = None,
) -> DataSplits:
    """Windowed, time-split recordings of a folder (module docstring): ``inputs`` float32
    ``[N, C, window_length]``, labels the class-folder indices (or :data:`UNLABELLED`).

    Args:
        data_dir: the folder (``<class>/<file>`` with ``labels="folders"``).
        sample_rate_hz: the recordings' rate; required unless all files are ``.wav`` of one rate.
        window_length, stride: samples per window and between window starts (``None``:
            ``window_length // 2``).
        labels: ``"folders"`` or ``"none"``.
        channels, variable, layout: passed to :func:`~contrastlab.data.recordings.read_recording`
            (``variable`` to ``.mat`` files only; ``layout`` to ``.npy`` files and to ``.mat``
            files read with ``variable``).
        split_fractions, normalize: as :func:`contrastlab.data.windows.windowed_splits`.
        on_bad_file: ``"error"`` or ``"skip"`` (with one warning and
            ``metadata["skipped_files"]``).
        on_rate_mismatch: ``"error"`` or ``"resample"`` for a ``.wav`` whose rate is not
            ``sample_rate_hz``.
        thresholds: the quality checks' thresholds (default :class:`QualityThresholds`).

    Metadata: ``source`` (``"folder"``), ``data_dir``, ``labels``, ``sample_rate_hz``,
    ``window_length``, ``stride``, ``channels`` (:func:`common_channels`), ``split_fractions``,
    ``records`` (per recording: ``file`` relative to ``data_dir``, ``class_name`` or ``None``,
    ``label``, ``n_samples`` at the source's rate, ``file_rate_hz`` or ``None``, ``resampled``,
    ``channels``),
    ``window_index`` (per split ``[N, 2]`` int64 ``(record, start sample)``), ``normalization``,
    ``skipped_files`` (``{"file", "problem"}``), ``ignored_files``.
    """
    check_int("window_length", window_length)
    stride = window_length // 2 if stride is None else check_int("stride", stride)
    check_choice("normalize", normalize, NORMALIZATIONS)
    check_choice("on_bad_file", on_bad_file, BAD_FILE_POLICIES)
    check_choice("on_rate_mismatch", on_rate_mismatch, RATE_MISMATCH_POLICIES)
    fractions = check_split_fractions(split_fractions)
    if layout is not None:
        check_choice("layout", layout, LAYOUTS)
    thresholds = QualityThresholds() if thresholds is None else thresholds
    listing = list_recordings(data_dir, labels)
    root = Path(data_dir)
    rate = _common_rate(listing.files, sample_rate_hz)
    read_options = {"channels": channels, "variable": variable, "layout": layout}
    loaded, skipped, rate = _load_all(
        listing.files,
        root,
        rate,
        lambda path, rate_hz: _load_checked(
            path, rate_hz, window_length, fractions, read_options, on_rate_mismatch, thresholds
        ),
        on_bad_file,
    )
    if not loaded:
        raise ValueError(f"no readable recording under {root}: all {len(skipped)} were skipped")
    label_of = dict(zip(listing.files, listing.labels, strict=True))
    read_classes = {label_of[p] for p in loaded}
    unread = [n for i, n in enumerate(listing.class_names) if i not in read_classes]
    if unread:
        raise ValueError(f"class folder(s) {unread} under {root} hold no readable recording")
    channel_names = common_channels({p: item.channel_names for p, item in loaded.items()}, root)
    paths = list(loaded)
    record_labels = [label_of[p] for p in paths]
    windowed = windowed_splits(
        [loaded[p].signal for p in paths],
        record_labels,
        window_length,
        stride,
        fractions,
        normalize,
    )
    records = [
        {
            "file": str(path.relative_to(root)),
            "class_name": listing.class_names[label] if label != UNLABELLED else None,
            "label": label,
            "n_samples": int(loaded[path].signal.shape[1]),
            "file_rate_hz": loaded[path].file_rate_hz,
            "resampled": loaded[path].file_rate_hz not in (None, rate),
            "channels": list(loaded[path].channel_names),
        }
        for path, label in zip(paths, record_labels, strict=True)
    ]
    metadata: dict[str, Any] = {
        "source": "folder",
        "data_dir": str(root),
        "labels": labels,
        "sample_rate_hz": rate,
        "window_length": window_length,
        "stride": stride,
        "channels": channel_names,
        "split_fractions": list(fractions),
        "records": records,
        "window_index": windowed.window_index,
        "normalization": None
        if windowed.normalization is None
        else windowed.normalization.to_dict(),
        "skipped_files": skipped,
        "ignored_files": [str(p.relative_to(root)) for p in listing.ignored],
    }
    return DataSplits(
        train=windowed.splits["train"],
        val=windowed.splits["val"],
        test=windowed.splits["test"],
        class_names=list(listing.class_names),
        metadata=metadata,
    )
