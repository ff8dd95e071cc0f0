"""UCR / UEA time-series classification sets, read from ``.ts`` files.

A set ``NAME`` is the pair ``NAME_TRAIN.ts`` / ``NAME_TEST.ts``
(:func:`contrastlab.data.ts_file.read_ts_file`), looked up in this order:

1. ``extract_path/NAME/`` or ``extract_path/`` itself (``--data``; aeon's downloads land in
   ``extract_path/NAME/``, the UEA archive's zips unpack the same way);
2. the sets bundled in aeon's wheel (GunPoint, ArrowHead, ItalyPowerDemand, OSULeaf, ACSF1,
   BasicMotions, ...), found without importing aeon (its import is slow and it pins numpy);
3. otherwise aeon's ``load_classification`` downloads the set into ``extract_path`` (needs the
   optional extra ``contrastlab[ucr]`` and the internet).

The official train split is divided into train and a stratified validation part; the official
test split is the test split. Inputs are float32 ``[N, C, L]`` (``C = 1`` for the
univariate UCR sets); labels index ``class_names``, the set's class values sorted (numerically when
they are all numbers).
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
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.data.ts_file import read_ts_file

_INSTALL_HINT = "install the optional extra: pip install 'contrastlab[ucr]' (it provides aeon)"


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


def _load_classification(name: str, split: str, extract_path: str | None) -> tuple[Any, np.ndarray]:
    """aeon's loader (downloads sets that are not bundled)."""
    try:
        from aeon.datasets import load_classification
    except ImportError as error:
        where = f" in {extract_path}" if extract_path is not None else ""
        raise ImportError(
            f"UCR data set {name!r} has no {name}_TRAIN.ts / {name}_TEST.ts{where}, and "
            f"downloading it needs aeon: {_INSTALL_HINT}"
        ) from error
    kwargs: dict[str, Any] = {"split": split}
    if extract_path is not None:
        kwargs["extract_path"] = os.fspath(extract_path)
    try:
        return load_classification(name, **kwargs)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"aeon could not load UCR data set {name!r} ({split}): {error}. Without internet only "
            "the sets bundled with aeon load (e.g. GunPoint, ArrowHead, ItalyPowerDemand)"
        ) from error


def _as_array(name: str, split: str, series: Any) -> np.ndarray:
    if not isinstance(series, np.ndarray) or series.ndim != 3:
        raise ValueError(
            f"UCR data set {name!r} ({split}) has series of unequal length; only equal-length "
            "sets are supported"
        )
    if not np.isfinite(series).all():
        raise ValueError(f"UCR data set {name!r} ({split}) has missing values")
    return series.astype(np.float64)


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
    normalize: str = "none",
    extract_path: str | os.PathLike[str] | None = None,
) -> DataSplits:
    """Load UCR/UEA set ``dataset`` as :class:`DataSplits` (see the module docstring).

    ``normalize='standard'`` standardises every channel with the mean and std of the training
    split (UCR series are usually z-normalised per series already, hence the default ``'none'``).
    Raises ``ImportError`` when the set is in no folder and aeon (to download it) is missing, and
    ``ValueError`` for a set that cannot be loaded or has unequal lengths / missing values.
    """
    check_choice("normalize", normalize, ("standard", "none"))
    path = None if extract_path is None else os.fspath(extract_path)
    files = find_ucr_files(dataset, path)
    if files is not None:
        raw = {split: read_ts_file(file) for split, file in files.items()}
    else:
        raw = {split: _load_classification(dataset, split, path) for split in ("train", "test")}
    series = {split: _as_array(dataset, split, raw[split][0]) for split in raw}
    targets = {split: np.asarray(raw[split][1]).astype(str) for split in raw}
    class_names = _sorted_classes(targets["train"].tolist())
    unseen = sorted(set(targets["test"].tolist()) - set(class_names))
    if unseen:
        raise ValueError(f"UCR data set {dataset!r}: test classes {unseen} absent from train")
    lookup = {name: index for index, name in enumerate(class_names)}
    labels = {split: np.array([lookup[v] for v in targets[split]], dtype=np.int64) for split in raw}
    keep, held = stratified_holdout(labels["train"], val_fraction, seed)
    arrays = {
        "train": (series["train"][keep], labels["train"][keep]),
        "val": (series["train"][held], labels["train"][held]),
        "test": (series["test"], labels["test"]),
    }
    normalization = None
    if normalize == "standard":
        mean = arrays["train"][0].mean(axis=(0, 2))
        std = np.maximum(arrays["train"][0].std(axis=(0, 2)), 1e-12)
        arrays = {k: ((x - mean[:, None]) / std[:, None], y) for k, (x, y) in arrays.items()}
        normalization = {"mean": mean.tolist(), "std": std.tolist(), "fitted_on": "train"}
    splits = {
        name: LabeledTensors(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y))
        for name, (x, y) in arrays.items()
    }
    metadata = {
        "source": "ucr",
        "dataset": dataset,
        "files": None if files is None else {split: str(file) for split, file in files.items()},
        "channels": int(series["train"].shape[1]),
        "length": int(series["train"].shape[2]),
        "val_fraction": val_fraction,
        "seed": seed,
        "normalization": normalization,
        "val_indices_in_official_train": torch.from_numpy(held),
    }
    return DataSplits(
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        class_names=class_names,
        metadata=metadata,
    )
