"""UCR loader: the stratified hold-out always; aeon's bundled sets when aeon is installed."""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest
import torch

from contrastlab.data.ucr import load_ucr_splits, stratified_holdout

HAS_AEON = importlib.util.find_spec("aeon") is not None
needs_aeon = pytest.mark.skipif(not HAS_AEON, reason="aeon (contrastlab[ucr]) not installed")


def test_stratified_holdout_counts_by_hand() -> None:
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    keep, held = stratified_holdout(labels, 0.2, seed=1)
    # round(0.2 * 10) = 2, round(0.2 * 5) = 1, class 2 keeps its only sample.
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 1, 0]
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(16))
    assert np.array_equal(held, stratified_holdout(labels, 0.2, seed=1)[1])
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_holdout(labels, 1.0)


def test_missing_aeon_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_aeon(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("aeon"):
            raise ImportError("No module named 'aeon'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_aeon)
    with pytest.raises(ImportError, match=r"contrastlab\[ucr\]"):
        load_ucr_splits("GunPoint")


@pytest.fixture(scope="module")
def gunpoint():
    return load_ucr_splits("GunPoint", val_fraction=0.2, seed=0)


@needs_aeon
def test_gunpoint_matches_aeon(gunpoint) -> None:
    from aeon.datasets import load_classification

    x_train, y_train = load_classification("GunPoint", split="train")
    x_test, y_test = load_classification("GunPoint", split="test")
    assert gunpoint.class_names == ["1", "2"]
    assert gunpoint.input_shape == (1, 150) and gunpoint.train.inputs.dtype == torch.float32
    # GunPoint: 50 train (24 / 26 per class) -> 5 + 5 held out; 150 test.
    assert (len(gunpoint.train), len(gunpoint.val), len(gunpoint.test)) == (40, 10, 150)
    assert torch.bincount(gunpoint.val.labels).tolist() == [5, 5]
    held = gunpoint.metadata["val_indices_in_official_train"].numpy()
    np.testing.assert_allclose(gunpoint.val.inputs.numpy(), x_train[held].astype(np.float32))
    assert gunpoint.val.labels.tolist() == [int(v) - 1 for v in y_train[held]]
    np.testing.assert_allclose(gunpoint.test.inputs.numpy(), x_test.astype(np.float32))
    assert gunpoint.test.labels.tolist() == [int(v) - 1 for v in y_test]


@needs_aeon
def test_standardisation_uses_train_only_and_source_entry(gunpoint) -> None:
    from contrastlab.data.signal_sources import load_signal_source

    standard = load_signal_source("ucr", dataset="GunPoint", normalize="standard")
    mean = gunpoint.train.inputs.double().mean().item()
    std = gunpoint.train.inputs.double().std(unbiased=False).item()
    expected = (gunpoint.test.inputs.double() - mean) / std
    torch.testing.assert_close(standard.test.inputs.double(), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="does not take options"):
        load_signal_source("ucr", dataset="GunPoint", window_length=3)


@needs_aeon
def test_unknown_offline_set_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="could not load UCR data set"):
        load_ucr_splits("NoSuchSetAnywhere", extract_path=tmp_path)
