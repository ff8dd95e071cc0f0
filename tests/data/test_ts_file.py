"""The ``.ts`` reader on hand-written files (headers, comments, multivariate, missing values),
series of unequal length (against a slow line-by-line reference, and against aeon's loader on its
bundled sets when aeon is installed), the writer round trip, and every malformed file it must
refuse."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from contrastlab.data.ts_file import pad_series, read_ts_file, write_ts_file

UNIVARIATE = """\
# A comment line, then tags in mixed case and any order.
%# An ARFF-style comment line (aeon's bundled UnitTest set opens with one).
@problemName Tiny
@timeStamps false
@classLabel true 1 2 10
@univariate true
@missing true
@seriesLength 4
@data
1.0,2.5,-3,4e-1:1
0,0,?,1:10

-1,-2,-3,-4:2
"""

MULTIVARIATE = """\
@problemName Motions
@univariate false
@dimensions 2
@equalLength true
@classLabel true Walking Running
@DATA
1,2,3:4,5,6:Walking
7,8,9:10,11,12:Running
"""


def write(tmp_path: Path, text: str, name: str = "set.ts") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_univariate_file_by_hand(tmp_path: Path) -> None:
    read = read_ts_file(write(tmp_path, UNIVARIATE))
    series, labels = read.series, read.labels
    assert read.equal_length and read.lengths.tolist() == [4, 4, 4]
    assert series.shape == (3, 1, 4) and series.dtype == np.float64
    np.testing.assert_array_equal(series[0, 0], [1.0, 2.5, -3.0, 0.4])
    np.testing.assert_array_equal(series[1, 0], [0.0, 0.0, np.nan, 1.0])  # '?' is missing
    assert labels.tolist() == ["1", "10", "2"]


def test_multivariate_file_keeps_channels_and_label_case(tmp_path: Path) -> None:
    read = read_ts_file(write(tmp_path, MULTIVARIATE))
    series, labels = read.series, read.labels
    assert series.shape == (2, 2, 3)
    np.testing.assert_array_equal(series[1], [[7, 8, 9], [10, 11, 12]])
    assert labels.tolist() == ["Walking", "Running"]


@pytest.mark.parametrize("channels", [1, 3])
def test_writer_round_trip(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    series = rng.normal(size=(5, channels, 7))
    series[2, 0, 3] = np.nan
    labels = ["b", "a", "b", "c", "a"]
    path = write_ts_file(tmp_path / "round.ts", series, labels, problem_name="Round")
    read = read_ts_file(path)
    np.testing.assert_array_equal(read.series, series)  # repr keeps every bit of a float64
    assert read.labels.tolist() == labels and read.equal_length
    with pytest.raises(ValueError, match="free of ':'"):
        write_ts_file(tmp_path / "bad.ts", series, ["a:b"] * 5)
    with pytest.raises(ValueError, match=r"\[N, C, L\]"):
        write_ts_file(tmp_path / "bad.ts", series[0], labels)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@problemName X\n@classLabel true a b\n", "no @data line"),
        ("@classLabel true a b\n@data\n", "no series after @data"),
        ("1,2:a\n", r"set.ts:1: expected an @tag line before @data"),
        ("@timeStamps true\n@classLabel true a\n@data\n(0,1):a\n", "time stamps"),
        ("@classLabel false\n@data\n1,2\n", "no class labels"),
        (
            "@equalLength true\n@classLabel true a b\n@data\n1,2:a\n1,2,3:b\n",
            r"set.ts:5: channel lengths \[3\], expected 2 \(the header says",
        ),
        ("@classLabel true a\n@data\n1,2:1,2,3:a\n", r"channel lengths \[2, 3\].*equally long"),
        ("@seriesLength 3\n@classLabel true a\n@data\n1,2:a\n", r"\[2\], expected 3"),
        ("@dimensions 2\n@classLabel true a\n@data\n1,2:a\n", "1 channels, expected 2"),
        ("@univariate true\n@classLabel true a\n@data\n1:2:a\n", "2 channels, expected 1"),
        ("@classLabel true a b\n@data\n1,2:c\n", r"labels \['c'\] are not declared"),
        ("@classLabel true a\n@data\n1,x:a\n", r"set.ts:3: 'x' is not a number"),
        ("@classLabel true a\n@data\n1,2\n", r"expected values followed by ':label'"),
        ("@missing maybe\n", "@missing must be true or false"),
        ("@seriesLength ten\n", "@serieslength must be an integer"),
        ("@classLabel true\n", "lists no class labels"),
        ("@targetLabel true\n", "regression targets"),
    ],
)
def test_malformed_files_raise_value_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_ts_file(write(tmp_path, text))


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no \.ts file"):
        read_ts_file(tmp_path / "absent.ts")


def reference_read(path: Path) -> tuple[np.ndarray, list[int], list[str]]:
    """The slow, obvious reading of a ``.ts`` file's data lines: every line after ``@data`` is
    ``channel:channel:...:label``, values split on commas, ``?`` missing; then each series is
    padded with NaN, value by value, to the longest."""
    lines = path.read_text().splitlines()
    data = lines[[line.lower() for line in lines].index("@data") + 1 :]
    rows, labels = [], []
    for line in data:
        if not line.strip():
            continue
        *channels, label = line.split(":")
        rows.append([[np.nan if v == "?" else float(v) for v in c.split(",")] for c in channels])
        labels.append(label)
    lengths = [len(row[0]) for row in rows]
    longest = max(lengths)
    padded = [[channel + [np.nan] * (longest - len(channel)) for channel in row] for row in rows]
    return np.array(padded), lengths, labels


@pytest.mark.parametrize("channels", [1, 3])
def test_unequal_lengths_are_padded_with_nan(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(10 + channels)
    lengths = [7, 2, 11, 5, 11, 1]
    series = [rng.normal(size=(channels, n)) for n in lengths]
    series[3][0, 1] = np.nan  # a missing value inside a series stays a missing value
    labels = ["x", "y", "x", "z", "y", "x"]
    path = write_ts_file(tmp_path / "unequal.ts", series, labels)
    assert "@equalLength false" in path.read_text()
    read = read_ts_file(path)
    expected, expected_lengths, expected_labels = reference_read(path)
    np.testing.assert_array_equal(read.series, expected)  # NaN compares equal here
    assert read.series.shape == (6, channels, 11) and not read.equal_length
    assert read.lengths.tolist() == expected_lengths == lengths and read.lengths.dtype == np.int64
    assert read.labels.tolist() == expected_labels == labels
    for row, values, n in zip(read.series, series, lengths, strict=True):
        np.testing.assert_array_equal(row[:, :n], values)
        assert np.isnan(row[:, n:]).all()


def test_pad_series_errors() -> None:
    padded, lengths = pad_series([np.ones((2, 3)), np.zeros((2, 1))], length=5)
    assert padded.shape == (2, 2, 5) and lengths.tolist() == [3, 1]
    assert np.isnan(padded[0, :, 3:]).all() and np.isnan(padded[1, :, 1:]).all()
    with pytest.raises(ValueError, match=r"different channel counts \[1, 2\]"):
        pad_series([np.ones((2, 3)), np.ones((1, 3))])
    with pytest.raises(ValueError, match="cannot pad series of 3 timestamps to 2"):
        pad_series([np.ones((1, 3))], length=2)
    with pytest.raises(ValueError, match=r"\[C, L\] arrays with L >= 1"):
        pad_series([np.ones((1, 0))])


@pytest.mark.skipif(
    importlib.util.find_spec("aeon") is None, reason="aeon (contrastlab[ucr]) not installed"
)
@pytest.mark.parametrize("name", ["PickupGestureWiimoteZ", "JapaneseVowels"])
def test_bundled_unequal_sets_match_aeon(name: str) -> None:
    from aeon.datasets import load_classification

    from contrastlab.data.ucr import find_ucr_files

    files = find_ucr_files(name, None)
    assert files is not None
    for split, path in files.items():
        read = read_ts_file(path)
        aeon_series, aeon_labels = load_classification(name, split=split)
        assert isinstance(aeon_series, list) and not read.equal_length  # aeon: [C, L_i] each
        assert read.lengths.tolist() == [values.shape[1] for values in aeon_series]
        for row, values in zip(read.series, aeon_series, strict=True):
            np.testing.assert_array_equal(row[:, : values.shape[1]], values)
        assert [v.lower() for v in read.labels] == aeon_labels.astype(str).tolist()
