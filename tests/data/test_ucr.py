"""UCR loader on tiny .ts sets written by the tests (always run), and on aeon's bundled sets when
aeon is installed (cross-checked against aeon's own loader)."""

from __future__ import annotations

import builtins
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab.data import ucr
from contrastlab.data.ts_file import write_ts_file
from contrastlab.data.ucr import (
    AeonMissingError,
    find_ucr_files,
    load_ucr_splits,
    require_equal_lengths,
    stratified_holdout,
)

HAS_AEON = importlib.util.find_spec("aeon") is not None
needs_aeon = pytest.mark.skipif(not HAS_AEON, reason="aeon (contrastlab[ucr]) not installed")


def write_tiny_set(folder: Path, name: str = "Tiny", test_labels: list[str] | None = None):
    """10 train series (labels 1, 2, 10: 4 / 4 / 2) and 6 test series of 2 channels x 9 steps."""
    rng = np.random.default_rng(0)
    train_labels = ["1", "2", "10", "1", "2", "10", "1", "2", "1", "2"]
    test_labels = test_labels or ["10", "2", "1", "1", "2", "10"]
    series = {
        "train": rng.normal(size=(len(train_labels), 2, 9)),
        "test": rng.normal(size=(len(test_labels), 2, 9)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for split, labels in (("train", train_labels), ("test", test_labels)):
        write_ts_file(folder / f"{name}_{split.upper()}.ts", series[split], labels, name)
    return series, {"train": train_labels, "test": test_labels}


def test_stratified_holdout_counts_by_hand() -> None:
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    keep, held = stratified_holdout(labels, 0.2, seed=1)
    # round(0.2 * 10) = 2, round(0.2 * 5) = 1, class 2 keeps its only sample.
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 1, 0]
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(16))
    assert np.array_equal(held, stratified_holdout(labels, 0.2, seed=1)[1])
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_holdout(labels, 1.0)


@pytest.mark.parametrize("in_subfolder", [True, False])
def test_tiny_set_from_a_folder(tmp_path: Path, in_subfolder: bool) -> None:
    series, labels = write_tiny_set(tmp_path / "Tiny" if in_subfolder else tmp_path)
    splits = load_ucr_splits("Tiny", val_fraction=0.25, seed=3, extract_path=tmp_path)
    assert splits.class_names == ["1", "2", "10"]  # numeric order, not "1", "10", "2"
    assert splits.input_shape == (2, 9) and splits.train.inputs.dtype == torch.float32
    # round(0.25 * 4) = 1 per class of 4; round(0.25 * 2) = 1 (0.5 rounds up) for class "10".
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7, 3, 6)
    held = splits.metadata["val_indices_in_official_train"].numpy()
    np.testing.assert_allclose(splits.val.inputs.numpy(), series["train"][held].astype(np.float32))
    lookup = {"1": 0, "2": 1, "10": 2}
    assert splits.val.labels.tolist() == [lookup[labels["train"][i]] for i in held]
    np.testing.assert_allclose(splits.test.inputs.numpy(), series["test"].astype(np.float32))
    assert splits.test.labels.tolist() == [lookup[v] for v in labels["test"]]
    assert splits.metadata["files"]["test"].endswith("Tiny_TEST.ts")


def test_tiny_set_errors(tmp_path: Path) -> None:
    write_tiny_set(tmp_path / "Unseen", name="Unseen", test_labels=["1", "3"])
    with pytest.raises(ValueError, match=r"test classes \['3'\] absent from train"):
        load_ucr_splits("Unseen", extract_path=tmp_path)
    folder = tmp_path / "Gappy"
    folder.mkdir()
    gappy = np.ones((4, 1, 5))
    gappy[1, 0, 2] = np.nan
    for split in ("TRAIN", "TEST"):
        write_ts_file(folder / f"Gappy_{split}.ts", gappy, ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="has missing values"):
        load_ucr_splits("Gappy", extract_path=tmp_path)


def test_train_zscore_uses_the_official_training_split_and_source_entry(tmp_path: Path) -> None:
    from contrastlab.data.signal_sources import load_signal_source

    series, _ = write_tiny_set(tmp_path)
    standard = load_signal_source("ucr", tmp_path, dataset="Tiny", normalization="train_zscore")
    # TS2Vec's: per channel, over every value of the official training split (before holdout).
    mean, std = series["train"].mean(axis=(0, 2)), series["train"].std(axis=(0, 2))
    expected = (series["test"] - mean[:, None]) / std[:, None]
    np.testing.assert_allclose(standard.test.inputs.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert standard.metadata["normalization"]["mean"] == pytest.approx(mean.tolist())
    with pytest.raises(ValueError, match="does not take options"):
        load_signal_source("ucr", tmp_path, dataset="Tiny", window_length=3)
    with pytest.raises(ValueError, match="normalization must be one of"):
        load_ucr_splits("Tiny", normalization="standard", extract_path=tmp_path)


def write_unequal_set(folder: Path, name: str = "Uneven") -> dict[str, list[np.ndarray]]:
    """8 train series (two classes) and 4 test series of 2 channels and 5 to 14 timestamps; a
    test series is the longest, and one training series is constant."""
    rng = np.random.default_rng(5)
    lengths = {"train": [5, 9, 12, 6, 7, 8, 10, 11], "test": [14, 5, 6, 9]}
    series = {
        split: [3.0 + 2.0 * rng.normal(size=(2, n)) for n in split_lengths]
        for split, split_lengths in lengths.items()
    }
    series["train"][3] = np.full((2, 6), 4.0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, values in series.items():
        labels = ["a", "b"] * (len(values) // 2)
        write_ts_file(folder / f"{name}_{split.upper()}.ts", values, labels, name)
    return series


def slow_zscore(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (values - mean[:, None]) / np.where(std > 0, std, 1.0)[:, None]


@pytest.mark.parametrize("normalization", ["none", "per_series", "train_zscore"])
def test_unequal_lengths_pad_with_nan_and_normalise_valid_values(
    tmp_path: Path, normalization: str
) -> None:
    series = write_unequal_set(tmp_path)
    splits = load_ucr_splits(
        "Uneven", val_fraction=0.25, normalization=normalization, extract_path=tmp_path
    )
    meta = splits.metadata
    assert (meta["length"], meta["min_length"], meta["equal_length"]) == (14, 5, False)
    assert splits.train.inputs.shape[1:] == splits.test.inputs.shape[1:] == (2, 14)
    held = meta["val_indices_in_official_train"].numpy()
    keep = np.setdiff1d(np.arange(8), held)
    all_train = np.concatenate(series["train"], axis=1)  # [2, sum of lengths]: one value per step
    for name, (official, rows) in {
        "train": ("train", keep), "val": ("train", held), "test": ("test", np.arange(4))
    }.items():  # fmt: skip
        split = getattr(splits, name)
        assert meta["lengths"][name].tolist() == [series[official][i].shape[1] for i in rows]
        for padded, i in zip(split.inputs.double().numpy(), rows, strict=True):
            values = series[official][i]
            n = values.shape[1]
            if normalization == "per_series":
                values = slow_zscore(values, values.mean(axis=1), values.std(axis=1))
            elif normalization == "train_zscore":
                values = slow_zscore(values, all_train.mean(axis=1), all_train.std(axis=1))
            np.testing.assert_allclose(padded[:, :n], values, rtol=1e-6, atol=1e-6)
            assert np.isnan(padded[:, n:]).all()
    if normalization == "per_series":  # the constant training series becomes zeros
        constant = int(np.flatnonzero(np.r_[keep, held] == 3)[0])
        inputs = torch.cat([splits.train.inputs, splits.val.inputs])
        assert torch.equal(inputs[constant, :, :6], torch.zeros(2, 6))


def test_models_that_cannot_mask_padding_are_refused(tmp_path: Path) -> None:
    write_unequal_set(tmp_path)
    splits = load_ucr_splits("Uneven", extract_path=tmp_path)
    with pytest.raises(
        ValueError,
        match=r"'Uneven' has series of unequal length \(5 to 14 timestamps, padded "
        r"with NaN\): resnet1d cannot mask the padding; use --method ts2vec",
    ):
        require_equal_lengths(splits, "resnet1d")
    write_tiny_set(tmp_path / "Tiny")
    require_equal_lengths(load_ucr_splits("Tiny", extract_path=tmp_path), "resnet1d")


def block_aeon(monkeypatch: pytest.MonkeyPatch, error: ImportError) -> None:
    """Make ``import aeon...`` raise ``error`` and hide aeon's bundled sets."""
    real_import = builtins.__import__

    def no_aeon(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("aeon"):
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_aeon)
    monkeypatch.setattr(ucr, "aeon_bundled_dir", lambda: None)


def test_set_found_nowhere_without_aeon_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_aeon(monkeypatch, ModuleNotFoundError("No module named 'aeon'"))
    with pytest.raises(AeonMissingError) as caught:
        load_ucr_splits("GunPoint", extract_path=tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, ImportError) and "\n" not in message
    assert message == (
        f"UCR data set 'GunPoint' has no GunPoint_TRAIN.ts / GunPoint_TEST.ts in {tmp_path}, "
        "and downloading it needs aeon: pip install 'contrastlab[ucr]'"
    )


def test_a_broken_aeon_is_one_line_naming_the_reinstall(monkeypatch: pytest.MonkeyPatch) -> None:
    long_error = ImportError(
        "numpy.core.multiarray failed to import\n" + "\n".join(f"line {i}" for i in range(35))
    )
    block_aeon(monkeypatch, long_error)
    with pytest.raises(AeonMissingError) as caught:
        load_ucr_splits("GunPoint")
    assert str(caught.value).endswith(
        "and aeon, needed to download it, cannot be imported (numpy.core.multiarray failed to "
        "import): reinstall it with pip install 'contrastlab[ucr]'"
    )


def test_ucr_command_without_aeon_prints_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from contrastlab.cli import main

    block_aeon(monkeypatch, ModuleNotFoundError("No module named 'aeon'"))
    run_dir = tmp_path / "run"
    assert main(["ucr", "--dataset", "GunPoint", "--out", str(run_dir), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("contrastlab ucr: error: UCR data set 'GunPoint' has no ")
    assert captured.err.rstrip().endswith("needs aeon: pip install 'contrastlab[ucr]'")
    assert not run_dir.exists()


@needs_aeon
def test_bundled_sets_are_read_without_aeon_and_match_its_loader() -> None:
    from aeon.datasets import load_classification

    from contrastlab.data.ts_file import read_ts_file

    for name in ("ArrowHead", "ItalyPowerDemand", "BasicMotions", "UnitTest"):
        files = find_ucr_files(name, None)
        assert files is not None and files["train"].parent == ucr.aeon_bundled_dir() / name
        for split, path in files.items():
            read = read_ts_file(path)
            aeon_series, aeon_labels = load_classification(name, split=split)
            np.testing.assert_array_equal(read.series, aeon_series)
            assert [v.lower() for v in read.labels] == aeon_labels.astype(str).tolist()


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
def test_unknown_offline_set_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="could not load UCR data set"):
        load_ucr_splits("NoSuchSetAnywhere", extract_path=tmp_path)
