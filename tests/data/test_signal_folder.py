"""The folder source on small generated trees: every format, windows cut by time inside each
recording (checked against the values written), rates, bad files, and the folder errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile
import torch

from contrastlab.data.signal_folder import UNLABELLED, load_folder_splits
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.windows import segment_bounds, window_count

RATE = 12_000
WINDOW, STRIDE = 100, 50
FRACTIONS = (0.7, 0.15, 0.15)


def signal(seed: int, n_samples: int = 1000) -> np.ndarray:
    """A distinct, realistic-looking signal per file: a tone plus noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(n_samples) / RATE
    return np.sin(2 * np.pi * (100 + 10 * seed) * time) + 0.2 * rng.standard_normal(n_samples)


def write(path: Path, values: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Write ``values [T]`` in the format of ``path``'s suffix; return what a reader should get."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, values)
    elif path.suffix == ".csv":
        path.write_text("accel\n" + "\n".join(repr(float(v)) for v in values) + "\n")
    elif path.suffix == ".wav":
        values = values.astype(np.float32).astype(np.float64)
        scipy.io.wavfile.write(path, rate, values.astype(np.float32))
    else:
        scipy.io.savemat(path, {"accel": values[:, None]})
    return values


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``root/<class>/<file>`` with one file of each format per class, and a README to ignore."""
    root = tmp_path / "recordings"
    written = {}
    for c, class_name in enumerate(("outer_race", "healthy")):
        for f, suffix in enumerate((".npy", ".csv", ".wav", ".mat")):
            relative = f"{class_name}/run{f}{suffix}"
            written[relative] = write(root / relative, signal(10 * c + f, 1000 + 200 * f))
    (root / "README.txt").write_text("recorded on rig 2")
    (root / "healthy" / ".DS_Store").write_bytes(b"\x00")
    return root, written


def test_labelled_tree_of_every_format(tree: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, written = tree
    splits = load_folder_splits(
        root, RATE, WINDOW, STRIDE, variable="accel", channels=None, normalize="none"
    )
    meta = splits.metadata
    assert splits.class_names == ["healthy", "outer_race"] and splits.input_shape == (1, WINDOW)
    assert meta["ignored_files"] == ["README.txt"] and meta["skipped_files"] == []
    assert meta["sample_rate_hz"] == RATE and meta["source"] == "folder"
    assert [r["file"] for r in meta["records"]] == sorted(written)
    for name in ("train", "val", "test"):
        split = getattr(splits, name)
        for (record, start), window, label in zip(
            meta["window_index"][name].tolist(), split.inputs, split.labels, strict=True
        ):
            relative = meta["records"][record]["file"]
            assert label == ["healthy", "outer_race"].index(relative.split("/")[0])
            expected = written[relative][start : start + WINDOW].astype(np.float32)
            np.testing.assert_array_equal(window[0].numpy(), expected)
    # Windows by time segment: each split's windows lie inside its segment, as many as fit.
    for r, record in enumerate(meta["records"]):
        bounds = segment_bounds(record["n_samples"], FRACTIONS)
        for name, (low, high) in zip(("train", "val", "test"), bounds, strict=True):
            index = meta["window_index"][name]
            starts = index[index[:, 0] == r, 1]
            assert len(starts) == window_count(high - low, WINDOW, STRIDE)
            assert starts.min() >= low and starts.max() + WINDOW <= high


def test_signal_source_and_normalisation_on_train_only(tree) -> None:
    root, _ = tree
    raw = load_folder_splits(root, RATE, WINDOW, variable="accel", normalize="none")
    standard = load_signal_source(
        "folder", root, sample_rate_hz=RATE, window_length=WINDOW, variable="accel"
    )
    assert standard.metadata["stride"] == WINDOW // 2
    mean = raw.train.inputs.double().mean()
    std = raw.train.inputs.double().std(unbiased=False)
    assert standard.metadata["normalization"]["mean"][0] == pytest.approx(mean.item(), rel=1e-5)
    expected_test = ((raw.test.inputs.double() - mean) / std).float()
    torch.testing.assert_close(standard.test.inputs, expected_test, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"does not take options \['loads'\]"):
        load_signal_source("folder", root, loads=[0])


def test_unlabelled_recordings_anywhere(tmp_path: Path) -> None:
    write(tmp_path / "a.npy", signal(1))
    write(tmp_path / "day1" / "deep" / "b.npy", signal(2))
    splits = load_folder_splits(tmp_path, RATE, WINDOW, STRIDE, labels="none")
    assert splits.class_names == [] and splits.num_classes == 0
    assert set(torch.cat([splits.train.labels, splits.test.labels]).tolist()) == {UNLABELLED}
    assert [r["class_name"] for r in splits.metadata["records"]] == [None, None]


def test_wav_rates(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write(tmp_path / "ok" / name / "x.wav", signal(1), rate=RATE)
    assert (
        load_folder_splits(tmp_path / "ok", window_length=WINDOW).metadata["sample_rate_hz"] == RATE
    )
    fast = tmp_path / "ok" / "b" / "y.wav"
    write(fast, signal(3, 4000), rate=4 * RATE)
    with pytest.raises(
        ValueError, match=rf"{fast}: its sample rate is 48000 Hz, not the source's 12000"
    ):
        load_folder_splits(tmp_path / "ok", window_length=WINDOW)
    resampled = load_folder_splits(tmp_path / "ok", RATE, WINDOW, on_rate_mismatch="resample")
    record = resampled.metadata["records"][-1]
    assert record["file"] == "b/y.wav" and record["resampled"] and record["file_rate_hz"] == 48_000
    assert record["n_samples"] == 1000
    write(tmp_path / "ok" / "a" / "z.npy", signal(4))
    with pytest.raises(ValueError, match=r"\['z\.npy'\] do not store their sample rate"):
        load_folder_splits(tmp_path / "ok", window_length=WINDOW)


def _add_bad_files(root: Path) -> None:
    nan = signal(5)
    nan[40] = np.nan
    write(root / "healthy" / "b_nan.npy", nan)
    write(root / "healthy" / "c_dead.npy", np.zeros(1000))
    write(root / "outer_race" / "d_short.npy", signal(6, 80))
    (root / "outer_race" / "e_empty.npy").write_bytes(b"")


def test_bad_files_error_or_are_skipped(tree) -> None:
    root, written = tree
    _add_bad_files(root)
    with pytest.raises(ValueError, match=r"healthy/b_nan\.npy: 1 non-finite samples"):
        load_folder_splits(root, RATE, WINDOW, variable="accel")
    with pytest.warns(UserWarning, match=r"skipped 4 of 12 recordings .*b_nan\.npy: "):
        splits = load_folder_splits(root, RATE, WINDOW, variable="accel", on_bad_file="skip")
    problems = {s["file"]: s["problem"] for s in splits.metadata["skipped_files"]}
    assert "channel 'ch0' is flat" in problems["healthy/c_dead.npy"]
    assert (
        "80 samples (0.006667 s) at 12000 Hz, shorter than one window"
        in problems["outer_race/d_short.npy"]
    )
    assert "is empty (0 bytes)" in problems["outer_race/e_empty.npy"]
    assert [r["file"] for r in splits.metadata["records"]] == sorted(written)


def test_segments_must_each_hold_a_window(tmp_path: Path) -> None:
    # 300 samples: long enough for one window, but the 15 % validation segment has 45 samples.
    for name in ("a", "b"):
        write(tmp_path / name / "x.npy", signal(1, 300))
    with pytest.raises(ValueError, match=r"a/x\.npy: the val segment has 45 samples"):
        load_folder_splits(tmp_path, RATE, WINDOW)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="recordings folder not found"):
        load_folder_splits(tmp_path / "absent", RATE)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"no recording .* it holds only \['notes\.txt'\]"):
        load_folder_splits(tmp_path, RATE)
    write(tmp_path / "only" / "a.npy", signal(1))
    with pytest.raises(ValueError, match=r"1 class folder\(s\) \['only'\]; .*at least two"):
        load_folder_splits(tmp_path, RATE, WINDOW)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match=r"\['empty_class'\] .* hold no recording file"):
        load_folder_splits(tmp_path, RATE, WINDOW)
    write(tmp_path / "empty_class" / "dead.npy", np.zeros(1000))
    unreadable = r"\['empty_class'\] .* hold no readable recording"
    with (
        pytest.warns(UserWarning, match="skipped 1 of 2"),
        pytest.raises(ValueError, match=unreadable),
    ):
        load_folder_splits(tmp_path, RATE, WINDOW, on_bad_file="skip")
    write(tmp_path / "loose.npy", signal(2))
    with pytest.raises(ValueError, match=r"\['loose\.npy'\] lie directly in"):
        load_folder_splits(tmp_path, RATE, WINDOW)


def test_all_skipped_and_option_errors(tmp_path: Path) -> None:
    write(tmp_path / "dead.npy", np.zeros(1000))
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no readable recording"):
        load_folder_splits(tmp_path, RATE, WINDOW, labels="none", on_bad_file="skip")
    with pytest.raises(ValueError, match="on_bad_file must be one of"):
        load_folder_splits(tmp_path, RATE, WINDOW, on_bad_file="ignore")
    with pytest.raises(ValueError, match="labels must be one of"):
        load_folder_splits(tmp_path, RATE, WINDOW, labels="files")
    with pytest.raises(ValueError, match="layout must be one of"):
        load_folder_splits(tmp_path, RATE, WINDOW, layout="rows")


def test_channels_must_agree(tmp_path: Path) -> None:
    write(tmp_path / "a" / "one.npy", signal(1))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.csv").write_text("x,y\n" + "\n".join(f"{v},{v}" for v in signal(2)))
    with pytest.raises(ValueError, match=r"channel counts: 1 channel\(s\) in \['a/one\.npy'\]"):
        load_folder_splits(tmp_path, RATE, WINDOW)
    (tmp_path / "a" / "one.npy").unlink()
    (tmp_path / "a" / "two.csv").write_text("y,x\n" + "\n".join(f"{v},{v}" for v in signal(3)))
    with pytest.raises(ValueError, match=r"name their channels differently.*channels=\[\.\.\.\]"):
        load_folder_splits(tmp_path, RATE, WINDOW)
    chosen = load_folder_splits(tmp_path, RATE, WINDOW, channels=["x"])
    assert chosen.metadata["channels"] == ["x"] and chosen.input_shape == (1, WINDOW)
