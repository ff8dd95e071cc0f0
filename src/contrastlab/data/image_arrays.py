"""Helpers of the in-memory image sources: resizing, channel statistics and stratified splits."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from contrastlab._checks import check_int
from contrastlab.data.splits import DataSplits, LabeledTensors

_CHUNK = 4096  # images per step when resizing / computing statistics, to bound memory


def check_image_size(size: int) -> None:
    """Require a positive integer side length."""
    check_int("size (pixels per side)", size)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking) of ``[N, C, H, W]`` images in 0..255 to uint8
    ``[N, C, size, size]``. Float input is rounded once, after resizing; uint8 input of the right
    size is returned unchanged."""
    check_image_size(size)
    if images.dim() != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8 and tuple(images.shape[-2:]) == (size, size):
        return images
    out = torch.empty((*images.shape[:2], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float32)
        if tuple(chunk.shape[-2:]) != (size, size):
            chunk = F.interpolate(
                chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )
        out[start : start + _CHUNK] = chunk.round().clamp(0, 255).to(torch.uint8)
    return out


def channel_mean_std(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of uint8 images ``[N, C, H, W]`` on the [0, 1] scale."""
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"need a non-empty [N, C, H, W] batch, got shape {tuple(images.shape)}")
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float64) / 255.0
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp(min=0).sqrt()
    return mean.tolist(), std.tolist()


def stratified_holdout(
    indices: np.ndarray, labels: np.ndarray, n_holdout: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (kept, held out) with ``n_holdout`` held out, stratified by
    ``labels[indices]`` and deterministic in ``seed``. Both parts are returned sorted."""
    indices = np.asarray(indices)
    if not (0 <= n_holdout < len(indices)):
        raise ValueError(
            f"cannot hold out {n_holdout} of {len(indices)} samples: "
            f"need 0 <= count < {len(indices)}"
        )
    if n_holdout == 0:
        return np.sort(indices), indices[:0]
    try:
        kept, held = train_test_split(
            indices, test_size=n_holdout, stratify=labels[indices], random_state=seed
        )
    except ValueError as exc:
        raise ValueError(
            f"cannot hold out a stratified {n_holdout} of {len(indices)} samples "
            f"(every class needs enough members): {exc}"
        ) from exc
    return np.sort(kept), np.sort(held)


def fraction_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train / val / test indices; the fractions are of the whole set
    (``round(fraction * N)`` samples each), the test part is drawn first."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1 to leave training data, "
            f"got {val_fraction} + {test_fraction}"
        )
    n = len(labels)
    rest, test = stratified_holdout(np.arange(n), labels, round(test_fraction * n), seed)
    train, val = stratified_holdout(rest, labels, round(val_fraction * n), seed)
    return train, val, test


def make_image_splits(
    train: LabeledTensors,
    val: LabeledTensors,
    test: LabeledTensors,
    class_names: list[str],
    source: str,
    **metadata: Any,
) -> DataSplits:
    """Wrap uint8 image splits in a ``DataSplits`` with the standard image metadata."""
    if len(train) == 0:
        raise ValueError(f"{source}: the train split is empty")
    for split in (train, val, test):
        if split.inputs.dtype != torch.uint8 or split.inputs.dim() != 4:
            raise ValueError(f"{source}: images must be uint8 [N, C, H, W]")
    mean, std = channel_mean_std(train.inputs)
    height, width = train.inputs.shape[-2:]
    info: dict[str, Any] = {
        "source": source,
        "image_size": int(height) if height == width else [int(height), int(width)],
        "in_channels": int(train.inputs.shape[1]),
        "mean": mean,
        "std": std,
    }
    info.update(metadata)
    return DataSplits(train, val, test, class_names=list(class_names), metadata=info)
