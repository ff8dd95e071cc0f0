"""The ``.ts`` reader on hand-written files (headers, comments, multivariate, missing values),
the writer round trip, and every malformed file it must refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contrastlab.data.ts_file import read_ts_file, write_ts_file

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
    series, labels = read_ts_file(write(tmp_path, UNIVARIATE))
    assert series.shape == (3, 1, 4) and series.dtype == np.float64
    np.testing.assert_array_equal(series[0, 0], [1.0, 2.5, -3.0, 0.4])
    np.testing.assert_array_equal(series[1, 0], [0.0, 0.0, np.nan, 1.0])  # '?' is missing
    assert labels.tolist() == ["1", "10", "2"]


def test_multivariate_file_keeps_channels_and_label_case(tmp_path: Path) -> None:
    series, labels = read_ts_file(write(tmp_path, MULTIVARIATE))
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
    read_series, read_labels = read_ts_file(path)
    np.testing.assert_array_equal(read_series, series)  # repr keeps every bit of a float64
    assert read_labels.tolist() == labels
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
        ("@equalLength false\n@classLabel true a\n@data\n1:a\n", "unequal length"),
        ("@classLabel true a b\n@data\n1,2:a\n1,2,3:b\n", r"set.ts:4: channel lengths \[3\]"),
        ("@classLabel true a\n@data\n1,2:1,2,3:a\n", r"channel lengths \[2, 3\].*unequal"),
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
