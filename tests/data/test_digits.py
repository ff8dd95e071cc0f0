"""The bundled digits source, the shared image-source helpers and the source dispatcher."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from contrastlab.data.digits import load_digits_splits
from contrastlab.data.image_arrays import channel_mean_std, fraction_split, resize_images
from contrastlab.data.image_sources import IMAGE_SOURCES, load_image_source

N_DIGITS = 1797


@pytest.fixture(scope="module")
def splits():
    return load_digits_splits()


def _sample_keys(split) -> Counter:
    return Counter(
        (image.numpy().tobytes(), int(label))
        for image, label in zip(split.inputs, split.labels, strict=True)
    )


def test_sizes_types_and_metadata(splits) -> None:
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1168, 270, 359)
    for split in (splits.train, splits.val, splits.test):
        assert split.inputs.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert split.inputs.shape[1:] == (1, 32, 32)
    assert splits.class_names == [str(d) for d in range(10)]
    meta = splits.metadata
    assert (meta["source"], meta["image_size"], meta["in_channels"]) == ("digits", 32, 1)
    unit = splits.train.inputs.double() / 255
    assert meta["mean"] == pytest.approx([unit.mean().item()], abs=1e-9)
    assert meta["std"] == pytest.approx([unit.std(unbiased=False).item()], abs=1e-9)


def test_native_size_reproduces_the_raw_pixels() -> None:
    native = load_digits_splits(size=8, val_fraction=0.0, test_fraction=0.0)
    raw = load_digits()
    expected = np.rint(raw.images * 255 / 16).astype(np.uint8)[:, None]
    assert np.array_equal(native.train.inputs.numpy(), expected)  # no split: original order
    assert np.array_equal(native.train.labels.numpy(), raw.target)
    assert len(native.val) == len(native.test) == 0


def test_upsampling_keeps_the_digit() -> None:
    native = load_digits_splits(size=8, val_fraction=0.0, test_fraction=0.0).train.inputs.float()
    big = load_digits_splits(size=32, val_fraction=0.0, test_fraction=0.0).train.inputs.float()
    pooled = torch.nn.functional.avg_pool2d(big, 4)  # back to 8x8
    correlation = torch.corrcoef(torch.stack([pooled.flatten(), native.flatten()]))[0, 1]
    assert correlation > 0.97
    assert big.max() <= 255 and big.min() >= 0


def test_splits_partition_the_data_and_are_stratified(splits) -> None:
    everything = _sample_keys(load_digits_splits(val_fraction=0.0, test_fraction=0.0).train)
    union = _sample_keys(splits.train) + _sample_keys(splits.val) + _sample_keys(splits.test)
    assert union == everything  # every sample exactly once: no overlap, nothing lost
    class_totals = np.bincount(load_digits().target, minlength=10)
    for split, fraction in ((splits.val, 0.15), (splits.test, 0.2)):
        counts = np.bincount(split.labels.numpy(), minlength=10)
        assert np.all(np.abs(counts - fraction * class_totals) <= 1.5)


def test_split_is_deterministic_in_the_seed(splits) -> None:
    again = load_digits_splits(seed=0)
    for a, b in ((splits.train, again.train), (splits.test, again.test)):
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    other = load_digits_splits(seed=1)
    assert not torch.equal(other.test.inputs, splits.test.inputs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size"),
        ({"size": 8.0}, "size"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "leave training data"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_digits_splits(**kwargs)


def test_helpers() -> None:
    images = torch.tensor([[[[0, 255], [255, 0]]], [[[51, 51], [51, 51]]]], dtype=torch.uint8)
    mean, std = channel_mean_std(images)
    values = torch.tensor([0, 1, 1, 0, 0.2, 0.2, 0.2, 0.2], dtype=torch.float64)
    assert mean == pytest.approx([values.mean().item()])
    assert std == pytest.approx([values.std(unbiased=False).item()])
    assert resize_images(images, 2) is images
    assert resize_images(images, 4).shape == (2, 1, 4, 4)
    assert torch.all(resize_images(images, 4)[1] == 51)
    labels = np.array([0] * 3 + [1] * 3)
    with pytest.raises(ValueError, match="stratified"):
        fraction_split(labels, 0.0, 0.17, seed=0)  # 1 test sample cannot cover 2 classes


def test_load_image_source_dispatch() -> None:
    assert IMAGE_SOURCES == ("digits", "cifar10", "cifar100", "folder")
    digits = load_image_source(size=16, seed=0)
    assert digits.metadata["source"] == "digits" and digits.input_shape == (1, 16, 16)
    small = load_image_source("digits", size=8, val_fraction=0.1)
    assert len(small.val) == round(0.1 * N_DIGITS)
    with pytest.raises(ValueError, match="digits, cifar10, cifar100, folder"):
        load_image_source("mnist")
    with pytest.raises(ValueError, match="needs data_dir"):
        load_image_source("cifar10")
    with pytest.raises(TypeError):
        load_image_source("digits", colour=True)
