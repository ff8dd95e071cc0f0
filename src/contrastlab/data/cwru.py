"""Case Western Reserve University (CWRU) bearing data: reading records and windowed splits.

The CWRU Bearing Data Center files (12 kHz drive-end set) are MATLAB files named, in contrastlab's
naming, ``12k_Drive_End_<CLASS>_<LOAD>_<NUMBER>.mat`` (``CLASS`` = ``IR007``, ``B014``,
``OR021@6``, ...) or ``normal_<LOAD>_<NUMBER>.mat``. A file numbered ``NNN`` holds
``XNNN_DE_time`` (drive end), ``XNNN_FE_time`` (fan end), ``XNNN_BA_time`` (base) as ``[T, 1]``
float64 accelerations and ``XNNNRPM``; the number is zero-padded to three digits (``X097_...``).
Some original files *also* hold another record's arrays, so variables are always chosen by the
file's own number, never by pattern alone.

Splits are made by time inside each recording (see :mod:`contrastlab.data.windows`): a random
split of overlapping windows leaks, because windows that share samples land on both sides.

Label schemes (fixed order, so class indices are the same for every folder loaded):

- ``10class``: normal, IR007, IR014, IR021, B007, B014, B021, OR007@6, OR014@6, OR021@6.
- ``4class``: normal, inner_race, ball, outer_race (any fault size, any outer-race position).

A class with no file in the folder (1 hp has no normal file in some subsets) keeps its index; its
splits are simply empty of that class.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contrastlab._checks import check_choice
from contrastlab.config.choices import CWRU_CHANNELS as CHANNELS
from contrastlab.data.cwru_names import (  # noqa: F401  (CwruFileName re-exported)
    CWRU_FILE_PATTERN,
    FAULT_TYPES,
    CwruFileName,
    parse_cwru_filename,
)
from contrastlab.data.recording_checks import non_finite_problem
from contrastlab.data.recordings import read_recording
from contrastlab.data.splits import DataSplits
from contrastlab.data.windows import windowed_splits

SAMPLE_RATE_HZ = 12_000
CLASSES_10 = (
    "normal",
    "IR007",
    "IR014",
    "IR021",
    "B007",
    "B014",
    "B021",
    "OR007@6",
    "OR014@6",
    "OR021@6",
)
CLASSES_4 = ("normal", "inner_race", "ball", "outer_race")
LABEL_SCHEMES: dict[str, tuple[str, ...]] = {"10class": CLASSES_10, "4class": CLASSES_4}


def class_index(class_name: str, label_scheme: str) -> int | None:
    """Index of a file's class in ``label_scheme``, or ``None`` when the scheme has no such class
    (e.g. ``OR007@3`` or ``IR028`` in ``10class``)."""
    check_choice("label_scheme", label_scheme, tuple(LABEL_SCHEMES))
    classes = LABEL_SCHEMES[label_scheme]
    if label_scheme == "4class" and class_name != "normal":
        class_name = FAULT_TYPES[re.match(r"[A-Z]+", class_name).group(0)]  # type: ignore[union-attr]
    return classes.index(class_name) if class_name in classes else None


def _normalize_channels(channels: str | Sequence[str]) -> tuple[str, ...]:
    selected = (channels,) if isinstance(channels, str) else tuple(channels)
    if not selected:
        raise ValueError("channels must name at least one of 'DE', 'FE', 'BA'")
    selected = tuple(c.upper() for c in selected)
    for channel in selected:
        check_choice("channel", channel, CHANNELS)
    if len(set(selected)) != len(selected):
        raise ValueError(f"channels must not repeat, got {list(selected)}")
    return selected


def read_cwru_record(
    path: str | os.PathLike[str], channels: str | Sequence[str] = ("DE",)
) -> tuple[np.ndarray, float | None, str]:
    """Read one CWRU file.

    Returns ``(signal, rpm, class_name)``: ``signal`` is ``[C, T]`` float64 in the order of
    ``channels`` (``'DE'``, ``'FE'``, ``'BA'``), ``rpm`` the recorded shaft speed (``None`` when the
    file has no ``XNNNRPM`` variable) and ``class_name`` the class spelled by the file name.
    Variables are chosen by the number in the file name (``..._105.mat`` -> ``X105_DE_time``) by
    :func:`contrastlab.data.recordings.read_recording`. Raises ``FileNotFoundError`` for a missing
    file and ``ValueError`` naming the file for a name that is not CWRU-style, an unreadable file,
    a requested channel that is absent (listing the variables the file holds), a variable that is
    a matrix rather than a vector (its shape), and NaN or inf samples (their count and the first).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CWRU file not found: {path}")
    parsed = parse_cwru_filename(path)
    selected = _normalize_channels(channels)
    recording = read_recording(path, channels=selected)
    non_finite = non_finite_problem(recording.signal, selected)
    if non_finite is not None:
        raise ValueError(f"{path}: {non_finite.message}")
    return recording.signal, recording.rpm, parsed.class_name


def find_cwru_files(
    data_dir: str | os.PathLike[str],
    loads: Sequence[int] | None = None,
    file_numbers: Sequence[int] | None = None,
) -> list[Path]:
    """All CWRU ``.mat`` files under ``data_dir`` (searched recursively), sorted by path.

    ``loads`` keeps the given motor loads (hp) and ``file_numbers`` the given official numbers.
    Raises ``FileNotFoundError`` when the folder is missing, holds no match, or lacks a requested
    number, and ``ValueError`` for ``.mat`` files that do not follow the CWRU naming.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"CWRU data folder not found: {root}")
    paths = sorted(root.rglob("*.mat"))
    unnamed = [p.name for p in paths if CWRU_FILE_PATTERN.match(p.name) is None]
    if unnamed:
        raise ValueError(f"{root} holds .mat files that are not CWRU-named: {unnamed[:5]}")
    parsed = {p: parse_cwru_filename(p) for p in paths}
    if loads is not None:
        paths = [p for p in paths if parsed[p].load_hp in set(loads)]
    if file_numbers is not None:
        wanted = {int(n) for n in file_numbers}
        paths = [p for p in paths if parsed[p].number in wanted]
        missing = wanted - {parsed[p].number for p in paths}
        if missing:
            raise FileNotFoundError(f"no CWRU file numbered {sorted(missing)} under {root}")
    if not paths:
        raise FileNotFoundError(f"no CWRU .mat file under {root} (loads={loads})")
    return paths


def recording_splits(
    signals: Sequence[np.ndarray],
    records: Sequence[dict[str, Any]],
    source: str,
    sample_rate_hz: float,
    channels: Sequence[str],
    label_scheme: str,
    window_length: int,
    stride: int | None,
    split_fractions: Sequence[float],
    normalize: str,
    **extra_metadata: Any,
) -> DataSplits:
    """Bearing recordings ``signals[r]: [C, T_r]``, described by ``records[r]`` (a dict with at
    least ``label``, ``load_hp`` and ``rpm``), windowed and split by time
    (:func:`contrastlab.data.windows.windowed_splits`; ``stride=None`` means
    ``window_length // 2``) into the :class:`DataSplits` every bearing source returns, with the
    metadata listed in :func:`load_cwru_splits` followed by ``extra_metadata``.
    """
    stride = window_length // 2 if stride is None else stride
    labels = [record["label"] for record in records]
    windowed = windowed_splits(signals, labels, window_length, stride, split_fractions, normalize)
    metadata: dict[str, Any] = {
        "source": source,
        "sample_rate_hz": sample_rate_hz,
        "window_length": window_length,
        "stride": stride,
        "channels": list(channels),
        "label_scheme": label_scheme,
        "split_fractions": list(split_fractions),
        "load_hp": sorted({r["load_hp"] for r in records}),
        "rpm": [r["rpm"] for r in records],
        "records": list(records),
        "window_index": windowed.window_index,
        "normalization": None
        if windowed.normalization is None
        else windowed.normalization.to_dict(),
        **extra_metadata,
    }
    return DataSplits(
        train=windowed.splits["train"],
        val=windowed.splits["val"],
        test=windowed.splits["test"],
        class_names=list(LABEL_SCHEMES[label_scheme]),
        metadata=metadata,
    )


def load_cwru_splits(
    data_dir: str | os.PathLike[str],
    window_length: int = 2048,
    stride: int | None = None,
    channels: str | Sequence[str] = ("DE",),
    label_scheme: str = "10class",
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    loads: Sequence[int] | None = None,
    file_numbers: Sequence[int] | None = None,
    normalize: str = "standard",
) -> DataSplits:
    """Windowed, time-split CWRU data: ``inputs`` float32 ``[N, C, window_length]``.

    Args:
        data_dir: folder searched recursively for CWRU files (e.g. one holding ``0HP/``, ``1HP/``).
        window_length: samples per window (2048 = 0.17 s at 12 kHz, about 5 shaft turns).
        stride: samples between window starts; ``None`` means ``window_length // 2``.
        channels: ``'DE'``, ``'FE'``, ``'BA'`` or a list of them (multi-channel ``C``).
        label_scheme: ``'10class'`` or ``'4class'`` (see module docstring); files whose class the
            scheme lacks are skipped and listed in ``metadata['skipped_files']``.
        split_fractions: ``(train, val, test)`` fractions of each recording's samples, in time
            order. Windows are cut inside each segment, so no sample is shared between splits. A
            random split of windows would leak: with ``stride < window_length`` neighbouring
            windows share samples, and even disjoint neighbours are near-copies of each other.
        loads: keep only these motor loads (hp); ``file_numbers``: only these official numbers.
        normalize: ``'standard'`` (per-channel mean/std of the training windows only) or ``'none'``.

    Metadata: ``source``, ``sample_rate_hz``, ``window_length``, ``stride``, ``channels``,
    ``label_scheme``, ``split_fractions``, ``load_hp`` (sorted loads present), ``rpm``
    (per recording, ``None`` if not stored), ``records`` (one dict per recording: file, number,
    class_name, label, load_hp, rpm, n_samples), ``window_index`` (per split ``[N, 2]``
    int64 ``(record, start sample)``), ``normalization`` (``mean``/``std`` per channel or ``None``),
    ``skipped_files``.
    """
    check_choice("label_scheme", label_scheme, tuple(LABEL_SCHEMES))
    selected = _normalize_channels(channels)
    signals, records, skipped = [], [], []
    for path in find_cwru_files(data_dir, loads=loads, file_numbers=file_numbers):
        parsed = parse_cwru_filename(path)
        label = class_index(parsed.class_name, label_scheme)
        if label is None:
            skipped.append(path.name)
            continue
        signal, rpm, class_name = read_cwru_record(path, selected)
        signals.append(signal)
        records.append(
            {
                "file": path.name,
                "number": parsed.number,
                "class_name": class_name,
                "label": label,
                "load_hp": parsed.load_hp,
                "rpm": rpm,
                "n_samples": int(signal.shape[1]),
            }
        )
    if not signals:
        raise FileNotFoundError(f"no file under {data_dir} belongs to the {label_scheme} scheme")
    return recording_splits(
        signals,
        records,
        source="cwru",
        sample_rate_hz=SAMPLE_RATE_HZ,
        channels=selected,
        label_scheme=label_scheme,
        window_length=window_length,
        stride=stride,
        split_fractions=split_fractions,
        normalize=normalize,
        skipped_files=skipped,
    )
