"""UCR / UEA time-series classification sets, read from ``.ts`` files.

A set ``NAME`` is the pair ``NAME_TRAIN.ts`` / ``NAME_TEST.ts``
(:func:`contrastlab.data.ts_file.read_ts_file`), looked up in this order:

1. ``extract_path/NAME/`` or ``extract_path/`` itself (``--data``; aeon's downloads land in
   ``extract_path/NAME/``, the UEA archive's zips unpack the same way);
2. the sets bundled in aeon's wheel (GunPoint, ArrowHead, ItalyPowerDemand, OSULeaf, ACSF1,
   BasicMotions, ...), found without importing aeon (its import is slow and it pins numpy);
3. otherwise aeon's ``load_classification`` downloads the set into ``extract_path`` (needs the
   optional extra ``contrastlab[ucr]`` and the internet; without aeon: :class:`AeonMissingError`).

The official train split is divided into train and a stratified validation part; the official
test split is the test split. Inputs are float32 ``[N, C, L]`` (``C = 1`` for the
univariate UCR sets); labels index ``class_names``, the set's class values sorted (numerically when
they are all numbers).

**Series of unequal length** (e.g. PickupGestureWiimoteZ, JapaneseVowels) are padded with NaN to
the longest series of both splits, as TS2Vec's code pads them; ``metadata["lengths"]`` holds each
split's lengths and ``metadata["equal_length"]`` says whether there is any padding. Only a model
that masks NaN timestamps (TS2Vec's encoder) can take such a set; the others call
:func:`require_equal_lengths`. A value missing inside a series is refused.

**Normalisation** (``normalization``), per channel, over the series' own timestamps only:

- ``"none"``: the values as stored (the UCR archive stores its univariate series z-normalised one
  by one already; some newer sets and the UEA sets are not);
- ``"per_series"``: ``(x - mean) / std`` of each series and channel;
- ``"train_zscore"``: TS2Vec's, ``(x - mean) / std`` with the mean and std of every value of the
  official training split (its train and validation parts), applied to every split.

Standard deviations are population ones; a zero one is replaced by 1 (scikit-learn's
``StandardScaler`` convention), so a constant series or channel becomes zeros.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlab._checks import check_choice
from contrastlab.config.choices import UCR_NORMALIZATIONS as NORMALIZATIONS
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.data.ts_file import TimeSeriesSet, pad_series, read_ts_file

INSTALL_COMMAND = "pip install 'contrastlab[ucr]'"


class AeonMissingError(ImportError):
    """aeon (the optional extra ``contrastlab[ucr]``) is needed but cannot be imported; the
    message is one line naming the ``pip install`` to run."""


def aeon_bundled_dir() -> Path | None:
    """aeon's folder of bundled data sets (``aeon/datasets/data``) when aeon is installed, found
    with :func:`importlib.util.find_spec` (aeon is not imported); else None."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "datasets" / "data"
        if folder.is_dir():
            return folder
    return None


def find_ucr_files(
    name: str, extract_path: str | os.PathLike[str] | None
) -> dict[str, Path] | None:
    """``{'train': .../NAME_TRAIN.ts, 'test': .../NAME_TEST.ts}`` from the first folder holding
    both (module docstring, steps 1-2), or None."""
    folders: list[Path] = []
    if extract_path is not None:
        folders += [Path(extract_path) / name, Path(extract_path)]
    bundled = aeon_bundled_dir()
    if bundled is not None:
        folders.append(bundled / name)
    for folder in folders:
        files = {split: folder / f"{name}_{split.upper()}.ts" for split in ("train", "test")}
        if all(path.is_file() for path in files.values()):
            return files
    return None


def import_load_classification(name: str, extract_path: str | None) -> Any:
    """aeon's ``load_classification``, imported to fetch set ``name``; raises
    :class:`AeonMissingError` (one line with the ``pip install`` to run) when aeon is missing or
    cannot be imported."""
    where = f" in {extract_path}" if extract_path is not None else ""
    needed = f"UCR data set {name!r} has no {name}_TRAIN.ts / {name}_TEST.ts{where}"
    try:
        from aeon.datasets import load_classification
    except ModuleNotFoundError as error:
        raise AeonMissingError(
            f"{needed}, and downloading it needs aeon: {INSTALL_COMMAND}"
        ) from error
    except ImportError as error:  # installed but broken, e.g. built against another numpy
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        cause = lines[0] if lines else type(error).__name__
        raise AeonMissingError(
            f"{needed}, and aeon, needed to download it, cannot be imported ({cause}): "
            f"reinstall it with {INSTALL_COMMAND}"
        ) from error
    return load_classification


def _load_classification(name: str, split: str, extract_path: str | None) -> TimeSeriesSet:
    """aeon's loader (downloads sets that are not bundled), padded as the reader pads."""
    load_classification = import_load_classification(name, extract_path)
    kwargs: dict[str, Any] = {"split": split}
    if extract_path is not None:
        kwargs["extract_path"] = os.fspath(extract_path)
    try:
        series, labels = load_classification(name, **kwargs)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"aeon could not load UCR data set {name!r} ({split}): {error}. Without internet only "
            "the sets bundled with aeon load (e.g. GunPoint, ArrowHead, ItalyPowerDemand)"
        ) from error
    # aeon returns [N, C, L] for equal lengths, else a list of [C, L_i] arrays.
    padded, lengths = pad_series(list(series))
    return TimeSeriesSet(padded, lengths, np.asarray(labels).astype(str))


def _common_padding(name: str, sets: dict[str, TimeSeriesSet]) -> dict[str, np.ndarray]:
    """Each split's series padded with NaN to the longest of all splits; ValueError for a value
    missing inside a series (only the padding may be NaN)."""
    length = max(data.series.shape[2] for data in sets.values())
    padded = {}
    for split, data in sets.items():
        inside = np.arange(data.series.shape[2]) < data.lengths[:, None, None]  # [N, 1, L]
        if np.isnan(np.where(inside, data.series, 0.0)).any():
            raise ValueError(f"UCR data set {name!r} ({split}) has missing values")
        extra = length - data.series.shape[2]
        padded[split] = np.pad(data.series, ((0, 0), (0, 0), (0, extra)), constant_values=np.nan)
    return padded


def _zscore(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (x - mean) / np.where(std > 0, std, 1.0)


def normalize_series(
    normalization: str, splits: dict[str, np.ndarray], fit_on: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    """``(splits normalised, the statistics)`` of series ``{name: [N, C, L]}`` padded with NaN
    (module docstring; the padding stays NaN); ``train_zscore`` fits on the splits named in
    ``fit_on`` together. The statistics are None for ``none``, else a dict with ``name`` (and
    the per-channel ``mean`` and ``std`` of ``train_zscore``)."""
    check_choice("normalization", normalization, NORMALIZATIONS)
    if normalization == "none":
        return splits, None
    if normalization == "per_series":
        return {
            name: _zscore(
                x, np.nanmean(x, axis=2, keepdims=True), np.nanstd(x, axis=2, keepdims=True)
            )
            for name, x in splits.items()
        }, {"name": "per_series"}
    fitted = np.concatenate([splits[name] for name in fit_on])
    mean, std = np.nanmean(fitted, axis=(0, 2)), np.nanstd(fitted, axis=(0, 2))
    normalised = {name: _zscore(x, mean[:, None], std[:, None]) for name, x in splits.items()}
    return normalised, {"name": "train_zscore", "mean": mean.tolist(), "std": std.tolist()}


def require_equal_lengths(data: DataSplits, consumer: str) -> None:
    """Raise ValueError when the UCR source ``data`` holds series of unequal length (padded with
    NaN), which ``consumer`` (the model or method named in the message) cannot mask."""
    meta = data.metadata
    if meta.get("equal_length", True):
        return
    raise ValueError(
        f"UCR data set {meta['dataset']!r} has series of unequal length ({meta['min_length']} "
        f"to {meta['length']} timestamps, padded with NaN): {consumer} cannot mask the padding; "
        "use --method ts2vec with --input raw, whose encoder masks it, or bring the series to "
        "one length yourself"
    )


def _sorted_classes(values: Sequence[str]) -> list[str]:
    unique = sorted(set(values))
    try:
        return sorted(unique, key=float)
    except ValueError:
        return unique


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..N-1`` into (keep, holdout), holding out ``fraction`` of every class.

    Class ``c`` with ``n_c`` samples gives ``round(fraction * n_c)`` held-out samples, capped at
    ``n_c - 1`` so each class keeps at least one training sample. Both index arrays are sorted.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    holdout = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        count = min(int(np.floor(fraction * len(members) + 0.5)), len(members) - 1)
        holdout.append(rng.permutation(members)[:count])
    held = np.sort(np.concatenate(holdout)) if holdout else np.empty(0, dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(labels)), held)
    return keep, held


def load_ucr_splits(
    dataset: str,
    val_fraction: float = 0.2,
    seed: int = 0,
    normalization: str = "none",
    extract_path: str | os.PathLike[str] | None = None,
) -> DataSplits:
    """Load UCR/UEA set ``dataset`` as :class:`DataSplits` (see the module docstring).

    Metadata: ``source``, ``dataset``, ``files``, ``channels``, ``length`` (the longest series,
    the inputs' ``L``), ``min_length``, ``equal_length``, ``lengths`` (``{split: [N] int64}``),
    ``val_fraction``, ``seed``, ``normalization`` (:func:`normalize_series`' statistics) and
    ``val_indices_in_official_train``. Raises :class:`AeonMissingError` (an ``ImportError``) when
    the set is in no folder and aeon (to download it) is missing, and ``ValueError`` for a set
    that cannot be loaded or has missing values.
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    path = None if extract_path is None else os.fspath(extract_path)
    files = find_ucr_files(dataset, path)
    if files is not None:
        raw = {split: read_ts_file(file) for split, file in files.items()}
    else:
        raw = {split: _load_classification(dataset, split, path) for split in ("train", "test")}
    series = _common_padding(dataset, raw)
    targets = {split: raw[split].labels for split in raw}
    class_names = _sorted_classes(targets["train"].tolist())
    unseen = sorted(set(targets["test"].tolist()) - set(class_names))
    if unseen:
        raise ValueError(f"UCR data set {dataset!r}: test classes {unseen} absent from train")
    lookup = {name: index for index, name in enumerate(class_names)}
    labels = {split: np.array([lookup[v] for v in targets[split]], dtype=np.int64) for split in raw}
    keep, held = stratified_holdout(labels["train"], val_fraction, seed)
    series, statistics = normalize_series(normalization, series, fit_on=["train"])
    rows = {"train": ("train", keep), "val": ("train", held), "test": ("test", slice(None))}
    splits = {
        name: LabeledTensors(
            torch.from_numpy(series[official][index].astype(np.float32)),
            torch.from_numpy(labels[official][index]),
        )
        for name, (official, index) in rows.items()
    }
    lengths = {
        name: torch.from_numpy(raw[official].lengths[index])
        for name, (official, index) in rows.items()
    }
    length = int(series["train"].shape[2])
    shortest = min(int(raw[split].lengths.min()) for split in raw)
    metadata = {
        "source": "ucr",
        "dataset": dataset,
        "files": None if files is None else {split: str(file) for split, file in files.items()},
        "channels": int(series["train"].shape[1]),
        "length": length,
        "min_length": shortest,
        "equal_length": shortest == length,
        "lengths": lengths,
        "val_fraction": val_fraction,
        "seed": seed,
        "normalization": statistics,
        "val_indices_in_official_train": torch.from_numpy(held),
    }
    return DataSplits(
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        class_names=class_names,
        metadata=metadata,
    )
