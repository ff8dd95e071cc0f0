"""CWRU reader and splits: tiny synthetic .mat fixtures, then the real recordings when present."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from contrastlab.data.cwru import (
    CLASSES_4,
    CLASSES_10,
    class_index,
    load_cwru_splits,
    parse_cwru_filename,
    read_cwru_record,
)
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.windows import segment_bounds, window_count


def _write_mat(
    path: Path,
    number: int,
    n_samples: int,
    channels: tuple[str, ...] = ("DE", "FE", "BA"),
    rpm: int | None = 1797,
    extra_number: int | None = None,
) -> dict[str, np.ndarray]:
    """Write a CWRU-like file whose channel c holds ``number * 1000 + c * 100 + ramp``."""
    content: dict[str, np.ndarray] = {}
    for source in (number, extra_number):
        if source is None:
            continue
        for i, channel in enumerate(channels):
            ramp = np.sin(np.arange(n_samples) * 0.1 * (i + 1))
            content[f"X{source:03d}_{channel}_time"] = (source * 1000 + i * 100 + ramp)[:, None]
        if rpm is not None:
            content[f"X{source:03d}RPM"] = np.array([[rpm + (source != number)]], dtype=np.uint16)
    scipy.io.savemat(path, content)
    return content


@pytest.fixture
def fixture_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cwru" / "0HP"
    folder.mkdir(parents=True)
    _write_mat(folder / "normal_0_97.mat", 97, 2000, channels=("DE", "FE"))
    _write_mat(folder / "12k_Drive_End_IR007_0_105.mat", 105, 1000, extra_number=106)
    _write_mat(folder / "12k_Drive_End_B014_0_185.mat", 185, 1000, rpm=None)
    _write_mat(folder / "12k_Drive_End_OR021@6_0_234.mat", 234, 1200)
    _write_mat(folder / "12k_Drive_End_OR007@3_0_144.mat", 144, 1000)
    return tmp_path / "cwru"


def test_parse_filenames() -> None:
    assert parse_cwru_filename("12k_Drive_End_IR007_0_105.mat").class_name == "IR007"
    parsed = parse_cwru_filename("/x/12k_Drive_End_OR014@6_1_198.mat")
    assert (parsed.class_name, parsed.load_hp, parsed.number, parsed.fault_type) == (
        "OR014@6",
        1,
        198,
        "outer_race",
    )
    assert parse_cwru_filename("normal_3_100.mat").fault_type == "normal"
    assert parse_cwru_filename("12k_Drive_End_B021_2_224.mat").fault_type == "ball"
    with pytest.raises(ValueError, match="not a CWRU 12 kHz drive-end file name"):
        parse_cwru_filename("48k_Drive_End_IR007_0_109.mat")


def test_class_schemes_are_fixed() -> None:
    assert CLASSES_10 == (
        "normal", "IR007", "IR014", "IR021", "B007", "B014", "B021", "OR007@6", "OR014@6", "OR021@6"
    )  # fmt: skip
    assert CLASSES_4 == ("normal", "inner_race", "ball", "outer_race")
    assert class_index("OR014@6", "10class") == 8
    assert class_index("OR007@3", "10class") is None
    assert class_index("OR007@3", "4class") == 3
    assert class_index("B021", "4class") == 2
    with pytest.raises(ValueError, match="label_scheme"):
        class_index("B021", "3class")


def test_read_record_picks_the_files_own_number(fixture_dir: Path) -> None:
    path = fixture_dir / "0HP" / "12k_Drive_End_IR007_0_105.mat"
    signal, rpm, class_name = read_cwru_record(path, ["BA", "DE"])
    raw = scipy.io.loadmat(path)
    assert "X106_DE_time" in raw  # the file also holds another record's arrays
    np.testing.assert_array_equal(signal[0], raw["X105_BA_time"][:, 0])
    np.testing.assert_array_equal(signal[1], raw["X105_DE_time"][:, 0])
    assert signal.dtype == np.float64 and signal.shape == (2, 1000)
    assert rpm == 1797.0 and class_name == "IR007"


def test_read_record_errors(fixture_dir: Path) -> None:
    normal = fixture_dir / "0HP" / "normal_0_97.mat"
    with pytest.raises(
        ValueError, match=r"normal_0_97\.mat has no variable 'X097_BA_time'.*X097_FE_time"
    ):
        read_cwru_record(normal, "BA")
    with pytest.raises(FileNotFoundError):
        read_cwru_record(fixture_dir / "normal_0_99.mat")
    with pytest.raises(ValueError, match="channel must be one of"):
        read_cwru_record(normal, "XX")
    _, rpm, _ = read_cwru_record(fixture_dir / "0HP" / "12k_Drive_End_B014_0_185.mat")
    assert rpm is None


def _with_nan_and_inf() -> np.ndarray:
    signal = np.sin(np.arange(1000) * 0.1)[:, None]
    signal[500], signal[700] = np.nan, np.inf
    return signal


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (  # a matrix variable is refused, not flattened into one long signal
            "12k_Drive_End_IR007_0_105.mat",
            {"X105_DE_time": np.ones((1000, 3)), "X105RPM": np.array([[1797]])},
            r"12k_Drive_End_IR007_0_105\.mat: variable 'X105_DE_time' is a matrix of shape "
            r"\(1000, 3\) where one channel \(a vector\) was expected; .*holds \['X105RPM', 'X1",
        ),
        (  # NaN / inf are refused when the file is read, before any training
            "12k_Drive_End_B014_0_185.mat",
            {"X185_DE_time": _with_nan_and_inf()},
            r"12k_Drive_End_B014_0_185\.mat: 2 non-finite samples \(NaN or inf\) of 1000; the "
            r"first at sample 500 of channel 'DE'",
        ),
    ],
)
def test_bad_record_is_refused_naming_the_file(
    fixture_dir: Path, name: str, content: dict[str, np.ndarray], expected: str
) -> None:
    scipy.io.savemat(fixture_dir / "0HP" / name, content)
    with pytest.raises(ValueError, match=expected):
        read_cwru_record(fixture_dir / "0HP" / name)
    with pytest.raises(ValueError, match=expected):
        load_cwru_splits(fixture_dir, window_length=100, stride=50)


def test_load_splits_on_fixture(fixture_dir: Path) -> None:
    splits = load_cwru_splits(fixture_dir, window_length=100, stride=50, normalize="none")
    assert splits.class_names == list(CLASSES_10)
    assert splits.metadata["skipped_files"] == ["12k_Drive_End_OR007@3_0_144.mat"]
    records = splits.metadata["records"]
    # Hand counts for stride 50, window 100 and (0.7, 0.15, 0.15) splits:
    # T=1000: train 13, val 2, test 2; T=1200: train 840 -> 15, val 180 -> 2, test 180 -> 2;
    # T=2000: train 1400 -> 27, val 300 -> 5, test 300 -> 5.
    expected = {1000: (13, 2, 2), 1200: (15, 2, 2), 2000: (27, 5, 5)}
    for split_id, name in enumerate(("train", "val", "test")):
        index = splits.metadata["window_index"][name]
        counts = torch.bincount(index[:, 0], minlength=len(records))
        for r, record in enumerate(records):
            assert counts[r] == expected[record["n_samples"]][split_id]
    by_file = {r["file"]: r for r in records}
    assert by_file["12k_Drive_End_B014_0_185.mat"]["rpm"] is None
    assert by_file["normal_0_97.mat"]["label"] == 0
    assert by_file["12k_Drive_End_OR021@6_0_234.mat"]["label"] == 9
    # Inputs are the raw DE samples: window start 0 of record 105 begins with 105000 + sin(0).
    first = splits.train.inputs[
        (splits.metadata["window_index"]["train"] == torch.tensor([1, 0])).all(1)
    ]
    assert first.shape == (1, 1, 100) and first[0, 0, 0].item() == pytest.approx(105000.0)
    assert splits.metadata["load_hp"] == [0]
    assert splits.train.inputs.dtype == torch.float32


def test_load_splits_4class_keeps_extra_outer_race_and_errors(fixture_dir: Path) -> None:
    splits = load_cwru_splits(fixture_dir, 100, 50, label_scheme="4class", channels=("DE", "FE"))
    assert splits.class_names == list(CLASSES_4)
    assert splits.metadata["skipped_files"] == []
    assert sorted(splits.train.labels.unique().tolist()) == [0, 1, 2, 3]
    assert splits.input_shape == (2, 100)
    with pytest.raises(ValueError, match=r"normal_0_97\.mat has no variable 'X097_BA_time'"):
        load_cwru_splits(fixture_dir, 100, 50, channels="BA")
    with pytest.raises(ValueError, match="val segment has 150 samples"):
        load_cwru_splits(fixture_dir, 200, 50)
    with pytest.raises(FileNotFoundError, match=r"\[999\]"):
        load_cwru_splits(fixture_dir, 100, 50, file_numbers=[105, 999])
    with pytest.raises(FileNotFoundError, match="not found"):
        load_cwru_splits(fixture_dir / "nowhere")
    (fixture_dir / "0HP" / "other.mat").write_bytes(b"")
    with pytest.raises(ValueError, match="not CWRU-named"):
        load_cwru_splits(fixture_dir, 100, 50)


# ---------------------------------------------------------------- real CWRU recordings


def _real_dir() -> Path | None:
    env = os.environ.get("CONTRASTLAB_CWRU_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cwru")
    return next((p for p in candidates if (p / "0HP").is_dir()), None)


REAL_DIR = _real_dir()
needs_real = pytest.mark.skipif(REAL_DIR is None, reason="real CWRU data not found")


@pytest.fixture(scope="module")
def manifest() -> dict[int, dict[str, str]]:
    assert REAL_DIR is not None
    with open(REAL_DIR / "MANIFEST.csv", newline="") as handle:
        return {int(row["cwru_file_no"]): row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def real_splits() -> object:
    assert REAL_DIR is not None
    return load_cwru_splits(REAL_DIR, file_numbers=[97, 105, 130, 119])


@needs_real
def test_real_file_105_matches_loadmat(manifest: dict[int, dict[str, str]]) -> None:
    path = REAL_DIR / manifest[105]["path"]
    signal, rpm, class_name = read_cwru_record(path, ("DE", "FE"))
    raw = scipy.io.loadmat(path)
    np.testing.assert_array_equal(signal[0], raw["X105_DE_time"].ravel())
    np.testing.assert_array_equal(signal[1], raw["X105_FE_time"].ravel())
    assert signal.shape == (2, int(manifest[105]["n_DE"]))
    assert rpm == float(manifest[105]["rpm"]) and class_name == "IR007"


@needs_real
def test_real_window_counts_and_no_overlap(real_splits, manifest) -> None:
    meta = real_splits.metadata
    assert real_splits.num_classes == 10 and real_splits.input_shape == (1, 2048)
    assert meta["sample_rate_hz"] == 12000 and meta["stride"] == 1024 and meta["load_hp"] == [0, 1]
    assert meta["source"] == "cwru" and meta["channels"] == ["DE"]
    for r, record in enumerate(meta["records"]):
        n_samples = int(manifest[record["number"]]["n_DE"])
        assert record["n_samples"] == n_samples
        assert record["rpm"] == float(manifest[record["number"]]["rpm"])
        bounds = segment_bounds(n_samples, (0.7, 0.15, 0.15))
        spans = []
        for name, (lo, hi) in zip(("train", "val", "test"), bounds, strict=True):
            starts = meta["window_index"][name]
            starts = starts[starts[:, 0] == r, 1]
            assert len(starts) == window_count(hi - lo, 2048, 1024)
            assert starts.min() >= lo and starts.max() + 2048 <= hi
            spans.append((int(starts.min()), int(starts.max()) + 2048))
        # Sample ranges of consecutive splits never overlap.
        assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0]
    labels = {r["number"]: r["label"] for r in meta["records"]}
    assert labels == {97: 0, 105: 1, 130: 7, 119: 4}


@needs_real
def test_real_normalisation_fitted_on_train_only(real_splits) -> None:
    raw = load_cwru_splits(REAL_DIR, file_numbers=[97, 105, 130, 119], normalize="none")
    train = raw.train.inputs.double()
    mean, std = train.mean().item(), train.std(unbiased=False).item()
    stats = real_splits.metadata["normalization"]
    assert stats["mean"][0] == pytest.approx(mean, rel=1e-5)
    assert stats["std"][0] == pytest.approx(std, rel=1e-5)
    expected_test = (raw.test.inputs.double() - mean) / std
    torch.testing.assert_close(
        real_splits.test.inputs.double(), expected_test, rtol=1e-4, atol=1e-4
    )


@needs_real
def test_real_1hp_folder_without_normal_keeps_scheme() -> None:
    for scheme, n_classes in (("10class", 10), ("4class", 4)):
        splits = load_cwru_splits(REAL_DIR / "1HP", label_scheme=scheme, stride=2048)
        assert splits.num_classes == n_classes
        assert 0 not in splits.train.labels.tolist()  # no normal file at 1 hp
        assert splits.metadata["load_hp"] == [1]
    assert set(splits.train.labels.tolist()) == {1, 2, 3}


@needs_real
def test_signal_source_cwru_matches_loader(real_splits) -> None:
    via_source = load_signal_source("cwru", REAL_DIR, file_numbers=[97, 105, 130, 119])
    assert torch.equal(via_source.train.inputs, real_splits.train.inputs)
    assert via_source.class_names == real_splits.class_names
