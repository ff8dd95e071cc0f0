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
lower-cases them). Supported: equal-length series (every channel of every series as long as the
others), with class labels, without time stamps; anything else raises ``ValueError`` naming the
file (and the line).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength")


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


def read_ts_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.ts`` file: ``(series [N, C, L] float64, labels [N] str)``.

    Missing values become NaN. Raises ``FileNotFoundError`` for a missing file and ``ValueError``
    for content the module docstring does not cover: no ``@data``, time stamps, no class labels,
    series or channels of unequal length, a channel count that changes, or a label absent from
    ``@classLabel``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .ts file at {path}")
    header: dict[str, object] = {}
    series: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    with path.open(encoding="utf-8") as stream:
        for number, raw_line in enumerate(stream, start=1):
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
    return np.asarray(series, dtype=np.float64), np.asarray(labels, dtype=str)


def _check_header(path: Path, header: dict[str, object]) -> None:
    if header.get("timestamps"):
        raise ValueError(f"{path}: series with time stamps (@timeStamps true) are not supported")
    if header.get("equallength") is False:
        raise ValueError(f"{path}: series of unequal length (@equalLength false) are not supported")
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
    """Same channel count and length as the series before (and as the header says)."""
    expected_channels = len(previous[0]) if previous else header.get("dimensions")
    if header.get("univariate") and expected_channels is None:
        expected_channels = 1
    if expected_channels is not None and len(channels) != expected_channels:
        raise ValueError(f"{path}:{number}: {len(channels)} channels, expected {expected_channels}")
    lengths = {len(values) for values in channels}
    expected_length = len(previous[0][0]) if previous else header.get("serieslength")
    if len(lengths) > 1 or (expected_length is not None and lengths != {expected_length}):
        expected = "" if expected_length is None else f", expected {expected_length}"
        raise ValueError(
            f"{path}:{number}: channel lengths {sorted(lengths)}{expected}: series of unequal "
            "length are not supported"
        )


def write_ts_file(
    path: str | os.PathLike[str],
    series: np.ndarray,
    labels: Sequence[object],
    problem_name: str = "contrastlab",
) -> Path:
    """Write ``series [N, C, L]`` (NaN: missing) with ``labels [N]`` as a ``.ts`` file that
    :func:`read_ts_file` (and aeon) read back; values use ``repr`` precision. Returns the path."""
    series = np.asarray(series, dtype=np.float64)
    labels = [str(label) for label in labels]
    if series.ndim != 3 or series.shape[0] == 0 or series.shape[0] != len(labels):
        raise ValueError(
            f"series must be [N, C, L] with N = len(labels) >= 1, got {series.shape} and "
            f"{len(labels)} labels"
        )
    if any(not label or any(c in label for c in ": \t\n,") for label in labels):
        raise ValueError("labels must be non-empty and free of ':', ',' and white space")
    channels, length = series.shape[1:]
    classes = sorted(set(labels))
    lines = [
        f"@problemName {problem_name}",
        "@timeStamps false",
        f"@missing {str(bool(np.isnan(series).any())).lower()}",
        f"@univariate {str(channels == 1).lower()}",
        *([f"@dimensions {channels}"] if channels > 1 else []),
        "@equalLength true",
        f"@seriesLength {length}",
        f"@classLabel true {' '.join(classes)}",
        "@data",
    ]
    for values, label in zip(series, labels, strict=True):
        fields = [",".join("?" if np.isnan(v) else repr(float(v)) for v in row) for row in values]
        lines.append(":".join([*fields, label]))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
