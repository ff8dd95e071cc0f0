"""Reader (and writer) of the ``.ts`` time-series classification format (the UEA / UCR archive's,
read by aeon and sktime), without either library.

A file is a header of ``@tag value`` lines (tags are case-insensitive; ``#`` or ARFF's ``%``
starts a comment line, as in aeon's bundled ``UnitTest`` set), ``@data``, then one series per
line::

    @problemName GunPoint
    @timeStamps false
    @univariate true
    @classLabel true 1 2
    @data
    -0.64,-0.64,-0.63,...:1                         <- univariate: values, then ':label'
    0.07,0.08,...:0.38,0.46,...:-0.1,0.2,...:Walking <- multivariate: one field per channel

Values are comma-separated; ``?`` (or ``NaN``) is a missing value; labels keep their case (aeon
lower-cases them). Supported: series with class labels, without time stamps. The channels of one
series are equally long; different series may differ in length (several UCR / UEA sets, e.g.
PickupGestureWiimoteZ, JapaneseVowels) unless the header says they do not (``@equalLength true``
or ``@seriesLength N``). Such a set is returned padded with NaN to its longest series, with each
series' length beside it (:class:`TimeSeriesSet`), as TS2Vec's code pads. Anything else raises
``ValueError`` naming the file (and the line).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contrastlab._text_files import read_text_file

_BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength")


@dataclass(frozen=True)
class TimeSeriesSet:
    """Labelled series, padded to the longest: ``series [N, C, L]`` float64 (NaN: missing, and
    every timestamp ``t >= lengths[i]`` of series ``i``), ``lengths [N]`` int64 (``1 <= lengths[i]
    <= L``), ``labels [N]`` str."""

    series: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    @property
    def equal_length(self) -> bool:
        """Whether every series has ``L`` timestamps (no padding)."""
        return bool((self.lengths == self.series.shape[2]).all())


def pad_series(
    series: Sequence[np.ndarray], length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(padded [N, C, L] float64, lengths [N] int64)`` of series ``[C, L_i]`` (all with the same
    ``C``): series ``i`` fills ``padded[i, :, :L_i]``, NaN the rest. ``L`` is ``length``, at least
    the longest ``L_i`` (default: the longest)."""
    arrays = [np.asarray(values, dtype=np.float64) for values in series]
    if not arrays or any(a.ndim != 2 or a.shape[1] == 0 for a in arrays):
        shapes = sorted({a.shape for a in arrays})[:3]
        raise ValueError(f"pad_series needs one or more [C, L] arrays with L >= 1, got {shapes}")
    channels = {a.shape[0] for a in arrays}
    if len(channels) > 1:
        raise ValueError(f"the series have different channel counts {sorted(channels)}")
    lengths = np.array([a.shape[1] for a in arrays], dtype=np.int64)
    longest = int(lengths.max())
    length = longest if length is None else length
    if length < longest:
        raise ValueError(f"cannot pad series of {longest} timestamps to {length}")
    padded = np.full((len(arrays), channels.pop(), length), np.nan)
    for row, values in zip(padded, arrays, strict=True):
        row[:, : values.shape[1]] = values
    return padded, lengths


def _parse_header(path: Path, number: int, line: str, header: dict[str, object]) -> None:
    """Store one ``@tag value`` line in ``header`` (``classlabel``: the list of labels)."""
    tag, _, value = line[1:].partition(" ")
    tag, value = tag.lower(), value.strip()
    if tag in _BOOLEAN_TAGS:
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{path}:{number}: @{tag} must be true or false, got {value!r}")
        header[tag] = value.lower() == "true"
    elif tag == "classlabel":
        flag, *labels = value.split()
        if flag.lower() == "true" and not labels:
            raise ValueError(f"{path}:{number}: @classLabel true lists no class labels")
        header[tag] = labels if flag.lower() == "true" else None
    elif tag in ("dimensions", "serieslength"):
        try:
            header[tag] = int(value)
        except ValueError as error:
            raise ValueError(
                f"{path}:{number}: @{tag} must be an integer, got {value!r}"
            ) from error
    elif tag == "targetlabel" and value.lower().startswith("true"):
        raise ValueError(f"{path}: regression targets (@targetLabel true) are not supported")
    else:
        header[tag] = value


def _parse_values(path: Path, number: int, field: str) -> list[float]:
    values = []
    for text in field.split(","):
        text = text.strip()
        try:
            values.append(float("nan") if text in ("?", "") else float(text))
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {text!r} is not a number") from error
    return values


def read_ts_file(path: str | os.PathLike[str]) -> TimeSeriesSet:
    """Read a ``.ts`` file as a :class:`TimeSeriesSet` (series padded with NaN to the longest).

    Missing values become NaN. Raises ``FileNotFoundError`` for a missing file and ``ValueError``
    for content the module docstring does not cover: no ``@data``, time stamps, no class labels,
    channels of one series of unequal length, series of unequal length where the header says
    they are equal, a channel count that changes, or a label absent from ``@classLabel``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .ts file at {path}")
    header: dict[str, object] = {}
    series: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    text = read_text_file(path, ".ts file")
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path}:{number}: expected an @tag line before @data")
            if line.lower() == "@data":
                in_data = True
                _check_header(path, header)
            else:
                _parse_header(path, number, line, header)
            continue
        *fields, label = line.split(":")
        if not fields:
            raise ValueError(f"{path}:{number}: expected values followed by ':label'")
        channels = [_parse_values(path, number, field) for field in fields]
        _check_series(path, number, channels, series, header)
        series.append(channels)
        labels.append(label.strip())
    if not in_data:
        raise ValueError(f"{path}: no @data line")
    if not series:
        raise ValueError(f"{path}: no series after @data")
    declared = header["classlabel"]
    assert isinstance(declared, list)
    unknown = sorted(set(labels) - set(declared))
    if unknown:
        raise ValueError(f"{path}: labels {unknown} are not declared in @classLabel {declared}")
    padded, lengths = pad_series([np.array(channels) for channels in series])
    return TimeSeriesSet(padded, lengths, np.asarray(labels, dtype=str))


def _check_header(path: Path, header: dict[str, object]) -> None:
    if header.get("timestamps"):
        raise ValueError(f"{path}: series with time stamps (@timeStamps true) are not supported")
    if header.get("classlabel") is None:
        raise ValueError(
            f"{path}: no class labels (@classLabel true ...): not a classification set"
        )


def _check_series(
    path: Path,
    number: int,
    channels: list[list[float]],
    previous: list[list[list[float]]],
    header: dict[str, object],
) -> None:
    """Same channel count as the series before (and as the header says), channels of one
    length, and that length the others' where the header says series are equally long."""
    expected_channels = len(previous[0]) if previous else header.get("dimensions")
    if header.get("univariate") and expected_channels is None:
        expected_channels = 1
    if expected_channels is not None and len(channels) != expected_channels:
        raise ValueError(f"{path}:{number}: {len(channels)} channels, expected {expected_channels}")
    lengths = sorted({len(values) for values in channels})
    if len(lengths) > 1:
        raise ValueError(
            f"{path}:{number}: channel lengths {lengths}: the channels of one series must be "
            "equally long"
        )
    expected_length = header.get("serieslength")
    if expected_length is None and header.get("equallength") and previous:
        expected_length = len(previous[0][0])
    if expected_length is not None and lengths != [expected_length]:
        raise ValueError(
            f"{path}:{number}: channel lengths {lengths}, expected {expected_length} (the header "
            "says every series has that length)"
        )


def write_ts_file(
    path: str | os.PathLike[str],
    series: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[object],
    problem_name: str = "contrastlab",
) -> Path:
    """Write labelled series as a ``.ts`` file that :func:`read_ts_file` (and aeon) read back;
    values use ``repr`` precision. ``series`` is ``[N, C, L]`` (NaN: missing) or a sequence of
    ``N`` arrays ``[C, L_i]`` of one channel count (series of unequal length: ``@equalLength
    false``). Returns the path."""
    if isinstance(series, np.ndarray) and series.ndim == 3:
        arrays = list(np.asarray(series, dtype=np.float64))
    elif isinstance(series, np.ndarray):
        raise ValueError(f"series must be [N, C, L] or a list of [C, L_i], got {series.shape}")
    else:
        arrays = [np.asarray(values, dtype=np.float64) for values in series]
    labels = [str(label) for label in labels]
    if not arrays or len(arrays) != len(labels):
        raise ValueError(
            f"series must be [N, C, L] (or N arrays [C, L_i]) with N = len(labels) >= 1, got "
            f"{len(arrays)} series and {len(labels)} labels"
        )
    pad_series(arrays)  # the same checks as reading back: [C, L_i] arrays of one channel count
    if any(not label or any(c in label for c in ": \t\n,") for label in labels):
        raise ValueError("labels must be non-empty and free of ':', ',' and white space")
    channels = arrays[0].shape[0]
    lengths = {values.shape[1] for values in arrays}
    classes = sorted(set(labels))
    missing = any(np.isnan(values).any() for values in arrays)
    lines = [
        f"@problemName {problem_name}",
        "@timeStamps false",
        f"@missing {str(missing).lower()}",
        f"@univariate {str(channels == 1).lower()}",
        *([f"@dimensions {channels}"] if channels > 1 else []),
        f"@equalLength {str(len(lengths) == 1).lower()}",
        *([f"@seriesLength {lengths.pop()}"] if len(lengths) == 1 else []),
        f"@classLabel true {' '.join(classes)}",
        "@data",
    ]
    for values, label in zip(arrays, labels, strict=True):
        fields = [",".join("?" if np.isnan(v) else repr(float(v)) for v in row) for row in values]
        lines.append(":".join([*fields, label]))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
