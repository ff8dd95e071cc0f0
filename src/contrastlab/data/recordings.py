"""Read one recording file (``.npy``, ``.csv``, ``.wav``, ``.mat``) into a :class:`Recording`.

A recording is a signal ``[C, T]`` (float64, C channels of T samples), the sample rate when the
format stores one, the channels' names and the file it came from. Formats:

- ``.npy`` (NumPy): a vector is one channel. A matrix is read only when ``layout`` says how:
  ``"channels_first"`` (``[C, T]``) or ``"channels_last"`` (``[T, C]``); without it, a matrix is an
  error (a matrix where one channel was expected is far more often a mistake, e.g. a batch of
  windows, than a multi-channel recording). Channels are named ``ch0``, ``ch1``, ... No rate.
- ``.csv``: comma-separated, **one row per sample, one column per channel**, no comment lines.
  The first non-blank row is a header of channel names when any of its fields is not a number
  (a UTF-8 byte-order mark and quoted names are allowed); otherwise every row is data and
  channels are named ``ch0``, ``ch1``, ... One row of several values is refused (a signal
  written as a row, not a column). No rate.
- ``.wav`` (:func:`scipy.io.wavfile.read`): gives the rate. Integer PCM is scaled to [-1, 1):
  signed ``b``-bit samples are divided by ``2**(b - 1)`` (24-bit files arrive as left-aligned
  int32, so the same division applies), unsigned 8-bit ones become ``(x - 128) / 128``; floating
  point samples are kept as they are. Channels are named ``ch0``, ...
- ``.mat`` (:func:`scipy.io.loadmat`; MATLAB v7.3 / HDF5 files are not supported): no rate. With
  ``variable=NAME``, that array is the signal (a vector = one channel, named ``NAME``; a matrix
  needs ``layout`` as for ``.npy``; its channels are named ``NAME[0]``, ...). Without it, one
  variable per channel code of ``channels`` (default ``("DE",)``, the drive end; codes are
  upper-cased), chosen by CWRU's naming rules: for a CWRU-named file ``..._NNN.mat``
  (:mod:`contrastlab.data.cwru_names`) ``XNNN_<CODE>_time``, by the file's own number (some CWRU
  files also hold another record's arrays); for any other name, the single variable whose name ends
  in ``_<CODE>_time``. Each such variable must be a vector; a matrix is an error naming its shape
  and the variables the file holds. A CWRU file's ``XNNNRPM`` is returned as ``rpm``.

``channels`` keeps the named channels in the given order (for ``.mat`` without ``variable`` it
chooses the variables, as above). Every failure raises ``FileNotFoundError`` (missing file) or
``ValueError`` naming the file and the problem: empty, truncated or unreadable file, unknown
extension, no numeric data, complex values, a matrix where a channel was expected, channels of
different lengths, an unknown channel (:class:`RecordingError`, a ``ValueError``, for the file's
own problems; a plain ``ValueError`` for a bad option). Sample values are not judged here: NaN,
flat lines and clipping are the checks of :mod:`contrastlab.data.recording_checks`.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipy.io
import scipy.io.wavfile

from contrastlab._values import check_choice
from contrastlab.config.choices import RECORDING_LAYOUTS as LAYOUTS
from contrastlab.data.cwru_names import cwru_filename_or_none

SUPPORTED_SUFFIXES = (".npy", ".csv", ".wav", ".mat")
DEFAULT_MAT_CHANNELS = ("DE",)
Parsed = TypeVar("Parsed")


class RecordingError(ValueError):
    """A recording file that cannot be read as a signal; the message names the file."""


def _parse(path: Path, parser: Callable[[], Parsed]) -> Parsed:
    """Run a third-party ``parser`` of ``path``'s bytes; whatever it raises means "unreadable".

    Malformed bytes make the parsers raise many unrelated types (scipy's MAT reader alone raises
    MatReadError, OSError, IndexError, TypeError, zlib.error; its WAV reader struct.error and even
    UnboundLocalError; tests/data/test_recordings.py truncates and corrupts files to find them),
    so every exception of the parser call, and only of that call, becomes one clear error.
    """
    try:
        return parser()
    except Exception as error:
        raise RecordingError(
            f"cannot read {path} as a {path.suffix} file (truncated or corrupt?): "
            f"{type(error).__name__}: {error}"
        ) from error


@dataclass(frozen=True)
class Recording:
    """One recording: ``signal [C, T]`` float64, ``sample_rate_hz`` (``None`` when the format does
    not store it), ``channel_names`` (C names), the ``path`` read and, for CWRU files, the
    recorded shaft speed ``rpm``."""

    signal: np.ndarray
    sample_rate_hz: float | None
    channel_names: tuple[str, ...]
    path: Path
    rpm: float | None = None

    @property
    def n_channels(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])


@dataclass(frozen=True)
class _Read:
    """What a format reader found, before channel selection."""

    signal: np.ndarray
    channel_names: tuple[str, ...]
    sample_rate_hz: float | None = None
    rpm: float | None = None


def _numeric(array: object, what: str) -> np.ndarray:
    """``array`` as a non-empty integer or floating-point NumPy array; ``what`` names it."""
    array = np.asarray(array)
    if np.iscomplexobj(array):
        raise RecordingError(f"{what} is a complex-valued signal: pass its magnitude or real part")
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if not numeric or array.size == 0:
        raise RecordingError(
            f"{what} holds no numeric data (dtype {array.dtype}, shape {array.shape}); a signal "
            "must be a non-empty numeric vector (or a matrix read with layout=...)"
        )
    return array


def _as_channels(array: np.ndarray, layout: str | None, what: str, context: str = "") -> np.ndarray:
    """``[C, T]`` float64 from a numeric ``array``.

    Without ``layout`` the array must be a vector (every axis but one of length 1): one channel.
    With it, a 1-D array is one channel and a 2-D one is ``[C, T]`` or ``[T, C]``.
    """
    if layout is None:
        if sum(size > 1 for size in array.shape) > 1:
            raise RecordingError(
                f"{what} is a matrix of shape {array.shape} where one channel (a vector) was "
                f"expected{context}; pass layout='channels_first' ([C, T]) or "
                "layout='channels_last' ([T, C]) to read it as channels"
            )
        return array.astype(np.float64).reshape(1, -1)
    if array.ndim > 2:
        raise RecordingError(
            f"{what} has shape {array.shape}; layout={layout!r} reads 1-D or 2-D data"
        )
    matrix = array.astype(np.float64).reshape(1, -1) if array.ndim < 2 else array.astype(np.float64)
    if layout == "channels_last" and array.ndim == 2:
        return np.ascontiguousarray(matrix.T)
    return matrix


def _numbered_channels(count: int) -> tuple[str, ...]:
    """``("ch0", "ch1", ...)``: the names of channels a format does not name."""
    return tuple(f"ch{i}" for i in range(count))


def _read_npy(path: Path, layout: str | None) -> _Read:
    array = _numeric(_parse(path, lambda: np.load(path, allow_pickle=False)), str(path))
    signal = _as_channels(array, layout, str(path))
    return _Read(signal, _numbered_channels(signal.shape[0]))


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _first_row(path: Path) -> tuple[int, list[str]]:
    """``(line index, fields)`` of the first non-blank line of a CSV file (``(0, [])`` if none)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for index, row in enumerate(csv.reader(handle)):
            if any(field.strip() for field in row):
                return index, row
    return 0, []


def _read_csv(path: Path) -> _Read:
    header_line, first = _parse(path, lambda: _first_row(path))
    has_header = any(not _is_number(field) for field in first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
        table = _parse(
            path,
            lambda: np.loadtxt(
                path,
                delimiter=",",
                comments=None,
                skiprows=header_line + 1 if has_header else 0,
                ndmin=2,
                dtype=np.float64,
                encoding="utf-8-sig",
                quotechar='"',
            ),
        )
    table = _numeric(table, str(path))
    names = tuple(field.strip() for field in first) if has_header else None
    if names is not None and len(names) != table.shape[1]:
        raise RecordingError(
            f"{path}: the header names {len(names)} columns but the rows hold {table.shape[1]}"
        )
    if names is not None and (len(set(names)) != len(names) or "" in names):
        raise RecordingError(
            f"{path}: header names must be distinct and non-empty, got {list(names)}"
        )
    if table.shape[0] == 1 and table.shape[1] > 1:
        raise RecordingError(
            f"{path} holds one row of {table.shape[1]} values where one sample per row (one "
            "column per channel) was expected"
        )
    return _Read(table.T.copy(), names or _numbered_channels(table.shape[1]))


def _pcm_to_unit(samples: np.ndarray) -> np.ndarray:
    """Integer PCM to float64 in [-1, 1) (see the module docstring); floats are kept."""
    if samples.dtype == np.uint8:
        return (samples.astype(np.float64) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.signedinteger):
        return samples.astype(np.float64) / float(2 ** (8 * samples.dtype.itemsize - 1))
    return samples.astype(np.float64)


def _read_wav(path: Path) -> _Read:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.io.wavfile.WavFileWarning)
        rate, samples = _parse(path, lambda: scipy.io.wavfile.read(path))
    truncated = [str(w.message) for w in caught if "EOF" in str(w.message)]
    if truncated:
        raise RecordingError(f"{path} is truncated: {truncated[0]}")
    if not rate > 0:
        raise RecordingError(f"{path} states a sample rate of {rate} Hz")
    samples = _numeric(samples, str(path))
    signal = _pcm_to_unit(samples).reshape(samples.shape[0], -1).T.copy()
    return _Read(signal, _numbered_channels(signal.shape[0]), sample_rate_hz=float(rate))


def mat_channel_codes(channels: str | Sequence[str] | None) -> tuple[str, ...]:
    """Channel codes for a ``.mat`` lookup: upper-cased, at least one, no repeats."""
    if channels is None:
        return DEFAULT_MAT_CHANNELS
    codes = tuple(c.upper() for c in ((channels,) if isinstance(channels, str) else channels))
    if not codes:
        raise ValueError("channels must name at least one channel")
    if len(set(codes)) != len(codes):
        raise ValueError(f"channels must not repeat, got {list(codes)}")
    return codes


def _mat_variable_for(path: Path, code: str, variables: list[str]) -> str:
    cwru_name = cwru_filename_or_none(path)
    if cwru_name is not None:
        key = f"X{cwru_name.number:03d}_{code}_time"
        if key not in variables:
            raise RecordingError(
                f"{path} has no variable {key!r} (channel {code}); it holds {variables}"
            )
        return key
    matches = [v for v in variables if re.search(rf"_{re.escape(code)}_time$", v, re.IGNORECASE)]
    if len(matches) != 1:
        raise RecordingError(
            f"{path}: cannot tell which variable holds channel {code} (found "
            f"{matches or 'none'} among {variables}); pass variable=NAME"
        )
    return matches[0]


def _cwru_rpm(path: Path, content: dict[str, object]) -> float | None:
    cwru_name = cwru_filename_or_none(path)
    value = None if cwru_name is None else content.get(f"X{cwru_name.number:03d}RPM")
    if value is None:
        return None
    array = np.asarray(value)
    if array.size == 0 or not np.issubdtype(array.dtype, np.number):
        return None
    return float(array.reshape(-1)[0])


def _read_mat_variable(
    path: Path, content: dict[str, object], variable: str, layout: str | None
) -> _Read:
    variables = sorted(k for k in content if not k.startswith("__"))
    if variable not in variables:
        raise RecordingError(f"{path} has no variable {variable!r}; it holds {variables}")
    what = f"{path}: variable {variable!r}"
    context = f"; {path.name} holds {variables}"
    signal = _as_channels(_numeric(content[variable], what), layout, what, context)
    if signal.shape[0] == 1:
        return _Read(signal, (variable,))
    return _Read(signal, tuple(f"{variable}[{i}]" for i in range(signal.shape[0])))


def _read_mat_channels(path: Path, content: dict[str, object], codes: tuple[str, ...]) -> _Read:
    variables = sorted(k for k in content if not k.startswith("__"))
    context = f"; {path.name} holds {variables}"
    rows = []
    for code in codes:
        key = _mat_variable_for(path, code, variables)
        what = f"{path}: variable {key!r}"
        rows.append(_as_channels(_numeric(content[key], what), None, what, context)[0])
    lengths = {code: len(row) for code, row in zip(codes, rows, strict=True)}
    if len(set(lengths.values())) != 1:
        raise RecordingError(f"{path}: channels of different lengths: {lengths}")
    return _Read(np.stack(rows), codes, rpm=_cwru_rpm(path, content))


def _check_options(suffix: str, variable: str | None, layout: str | None, channels: object) -> None:
    if layout is not None:
        check_choice("layout", layout, LAYOUTS)
        if suffix not in (".npy", ".mat") or (suffix == ".mat" and variable is None):
            raise ValueError(
                "layout applies to .npy arrays and to a .mat variable named with variable=NAME"
            )
    if variable is not None:
        if suffix != ".mat":
            raise ValueError(f"variable={variable!r} applies to .mat files only, not {suffix}")
        if channels is not None:
            raise ValueError(
                "give variable (the name of the array to read) or channels (the channel codes "
                "looked up by CWRU's naming rules), not both"
            )


def _select(read: _Read, channels: str | Sequence[str] | None, path: Path) -> _Read:
    """Keep the channels named by ``channels``, in that order (all when ``None``)."""
    if channels is None:
        return read
    wanted = (channels,) if isinstance(channels, str) else tuple(channels)
    if not wanted or len(set(wanted)) != len(wanted):
        raise ValueError(f"channels must name distinct channels, got {list(wanted)}")
    unknown = [name for name in wanted if name not in read.channel_names]
    if unknown:
        raise RecordingError(
            f"{path} has no channel {unknown}; its channels are {list(read.channel_names)}"
        )
    rows = [read.channel_names.index(name) for name in wanted]
    return _Read(read.signal[rows], wanted, read.sample_rate_hz, read.rpm)


def _read_format(
    path: Path,
    suffix: str,
    mat_codes: tuple[str, ...] | None,
    variable: str | None,
    layout: str | None,
) -> _Read:
    if suffix == ".npy":
        return _read_npy(path, layout)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".wav":
        return _read_wav(path)
    content = _parse(path, lambda: scipy.io.loadmat(path))
    if variable is not None:
        return _read_mat_variable(path, content, variable, layout)
    return _read_mat_channels(path, content, mat_codes or DEFAULT_MAT_CHANNELS)


def read_recording(
    path: str | os.PathLike[str],
    *,
    channels: str | Sequence[str] | None = None,
    variable: str | None = None,
    layout: str | None = None,
) -> Recording:
    """Read ``path`` (``.npy``, ``.csv``, ``.wav`` or ``.mat``, see the module docstring).

    Args:
        channels: the channels to keep, by name and in this order (``None``: all); for ``.mat``
            files read without ``variable``, the channel codes whose variables are looked up
            (``None``: ``("DE",)``).
        variable: ``.mat`` only, the name of the array holding the signal.
        layout: ``"channels_first"`` / ``"channels_last"`` to read a ``.npy`` matrix or a ``.mat``
            ``variable`` matrix as ``[C, T]`` / ``[T, C]``.

    Returns a :class:`Recording` with ``signal [C, T]`` float64. Raises ``FileNotFoundError`` for a
    missing file and ``ValueError`` naming the file for everything else that is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise RecordingError(
            f"{path}: unsupported file type {path.suffix!r}; supported: {list(SUPPORTED_SUFFIXES)}"
        )
    _check_options(suffix, variable, layout, channels)
    mat_codes = mat_channel_codes(channels) if suffix == ".mat" and variable is None else None
    if path.stat().st_size == 0:
        raise RecordingError(f"{path} is empty (0 bytes)")
    read = _read_format(path, suffix, mat_codes, variable, layout)
    if suffix != ".mat":
        read = _select(read, channels, path)
    return Recording(
        signal=read.signal,
        sample_rate_hz=read.sample_rate_hz,
        channel_names=tuple(read.channel_names),
        path=path,
        rpm=read.rpm,
    )
