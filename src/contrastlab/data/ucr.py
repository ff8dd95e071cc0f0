"""UCR / UEA time-series classification sets through aeon (optional extra ``contrastlab[ucr]``).

aeon's wheel bundles a few sets (GunPoint, ArrowHead, ItalyPowerDemand, OSULeaf, ACSF1,
BasicMotions, ...) that load offline; other names are downloaded by aeon into ``extract_path``
(needs the internet). The official train split is divided into train and a stratified validation
part; the official test split is the test split. Inputs are float32 ``[N, C, L]`` (``C = 1`` for the
univariate UCR sets); labels index ``class_names``, the set's class values sorted (numerically when
they are all numbers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from contrastlab._checks import check_choice
from contrastlab.data.splits import DataSplits, LabeledTensors

_INSTALL_HINT = "install the optional extra: pip install 'contrastlab[ucr]' (it provides aeon)"


def _load_classification(name: str, split: str, extract_path: str | None) -> tuple[Any, np.ndarray]:
    try:
        from aeon.datasets import load_classification
    except ImportError as error:
        raise ImportError(f"loading UCR data set {name!r} needs aeon: {_INSTALL_HINT}") from error
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
    Raises ``ImportError`` when aeon is missing and ``ValueError`` for a set that cannot be loaded
    or has unequal lengths / missing values.
    """
    check_choice("normalize", normalize, ("standard", "none"))
    path = None if extract_path is None else os.fspath(extract_path)
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
