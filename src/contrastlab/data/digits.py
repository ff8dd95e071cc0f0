"""scikit-learn's bundled handwritten digits (1797 images, 8x8, values 0..16) as an image source.

Nothing is downloaded, so this is the default source for tests and CPU runs.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from contrastlab.data.image_arrays import (
    check_image_size,
    fraction_split,
    make_image_splits,
    resize_images,
)
from contrastlab.data.splits import DataSplits, LabeledTensors

DIGITS_MAX_VALUE = 16  # the 8x8 digits store ink counts 0..16


def load_digits_splits(
    size: int = 32, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2
) -> DataSplits:
    """The digits as uint8 images ``[N, 1, size, size]`` with int64 labels 0..9.

    Pixels are scaled from 0..16 to 0..255, resized bilinearly to ``size`` and rounded. The split
    is stratified by class and fixed by ``seed``: ``round(test_fraction * 1797)`` test and
    ``round(val_fraction * 1797)`` validation images (359 and 270 by default), the rest train.
    """
    check_image_size(size)
    bunch = load_digits()
    pixels = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32)).unsqueeze(1)
    images = resize_images(pixels * (255.0 / DIGITS_MAX_VALUE), size)
    labels_np = np.asarray(bunch.target, dtype=np.int64)
    labels = torch.from_numpy(labels_np)
    parts = fraction_split(labels_np, val_fraction, test_fraction, seed)
    train, val, test = (
        LabeledTensors(images[idx], labels[idx]) for idx in map(torch.from_numpy, parts)
    )
    return make_image_splits(
        train,
        val,
        test,
        class_names=[str(int(name)) for name in bunch.target_names],
        source="digits",
        seed=seed,
        original_size=8,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
