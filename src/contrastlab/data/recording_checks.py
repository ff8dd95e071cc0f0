"""Quality checks of a recording ``[C, T]`` before any verdict or training.

Each check returns :class:`RecordingProblem` entries (a named ``reason`` and a message for people);
an empty list means the signal is fit to be windowed and classified. The thresholds are the fields
of :class:`QualityThresholds`:

- ``non_finite``: any NaN or +-inf sample; the message gives their count and the first one's
  (channel, sample) index. The other value checks are skipped for such a signal (its statistics are
  undefined).
- ``too_short``: ``T < window_length``: not even one window (given in samples and, when the rate is
  known, seconds).
- ``flat``: a channel that does not move, a dead or disconnected sensor. A channel ``x`` is flat
  when ``std(x) <= flat_relative_tolerance * max|x|`` (constant up to rounding, all-zeros included:
  ``0 <= 0``), or when it takes at most ``flat_max_distinct_values`` distinct values (an ADC
  reading a dead sensor flickers between a few adjacent codes). A live vibration signal has
  ``std / max|x|`` of the order of 0.03-0.3 (crest factors 3-30) and thousands of distinct values.
- ``clipped``: a channel that saturates its sensor or converter. With ``hi = max(x)``,
  ``lo = min(x)`` and ``tolerance = clip_relative_tolerance * (hi - lo)``, a sample is *at a rail*
  when ``x >= hi - tolerance`` or ``x <= lo + tolerance``; the channel is clipped when more than
  ``clip_max_fraction`` of its samples sit at a rail in runs of at least ``clip_min_run``
  consecutive samples. Runs matter: saturation holds the value for several samples, while an
  unclipped signal touches its extremes in single samples. With the default tolerance of 1e-6 of
  the range, even a clean slow sine spends about ``4 sqrt(2e-6) / (2 pi) ~ 0.1 %`` of its samples
  that close to its peaks, far below 1 %.

A file that cannot be read at all gets a problem too, from the error that
:func:`contrastlab.data.recordings.read_recording` raised (:func:`reading_problem`): ``not_found``,
``empty`` (0 bytes), ``unsupported`` (file type), ``complex`` (complex-valued samples), ``matrix``
(a matrix where one channel was expected; the message lists the file's variables),
``missing_channel`` (no variable for a requested channel) and ``unreadable`` (truncated, corrupt,
no numeric data, anything else).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contrastlab._values import check_int, check_non_negative, check_positive

NON_FINITE = "non_finite"
TOO_SHORT = "too_short"
FLAT = "flat"
CLIPPED = "clipped"
REASONS = (NON_FINITE, TOO_SHORT, FLAT, CLIPPED)

NOT_FOUND = "not_found"
EMPTY = "empty"
UNSUPPORTED = "unsupported"
COMPLEX = "complex"
MATRIX = "matrix"
MISSING_CHANNEL = "missing_channel"
UNREADABLE = "unreadable"
READING_REASONS = (NOT_FOUND, EMPTY, UNSUPPORTED, COMPLEX, MATRIX, MISSING_CHANNEL, UNREADABLE)
# What read_recording's messages say for each reason (tests/data/test_recording_checks.py writes a
# file with each problem, so a reworded message there fails a test here); anything else is
# UNREADABLE.
_READING_MESSAGES = (
    (EMPTY, "is empty (0 bytes)"),
    (UNSUPPORTED, "unsupported file type"),
    (COMPLEX, "complex-valued"),
    (MATRIX, "is a matrix of shape"),
    (MISSING_CHANNEL, "has no variable"),
    (MISSING_CHANNEL, "cannot tell which variable"),
)


@dataclass(frozen=True)
class RecordingProblem:
    """One reason a recording is unfit: ``reason`` (one of :data:`REASONS`), a ``message`` for
    people and the ``channel`` index it concerns (``None`` for the whole recording)."""

    reason: str
    message: str
    channel: int | None = None


@dataclass(frozen=True)
class QualityThresholds:
    """Thresholds of the checks (see the module docstring for each definition)."""

    flat_relative_tolerance: float = 1e-6
    flat_max_distinct_values: int = 3
    clip_relative_tolerance: float = 1e-6
    clip_min_run: int = 3
    clip_max_fraction: float = 0.01

    def __post_init__(self) -> None:
        check_non_negative("flat_relative_tolerance", self.flat_relative_tolerance)
        check_int("flat_max_distinct_values", self.flat_max_distinct_values, minimum=0)
        check_non_negative("clip_relative_tolerance", self.clip_relative_tolerance)
        if self.clip_relative_tolerance >= 0.5:
            raise ValueError(
                f"clip_relative_tolerance must be < 0.5, got {self.clip_relative_tolerance}"
            )
        check_int("clip_min_run", self.clip_min_run)
        check_non_negative("clip_max_fraction", self.clip_max_fraction)


def _channel_label(channel: int, channel_names: Sequence[str] | None) -> str:
    return f"channel {channel_names[channel]!r}" if channel_names else f"channel {channel}"


def non_finite_problem(
    signal: np.ndarray, channel_names: Sequence[str] | None = None
) -> RecordingProblem | None:
    """``non_finite`` when ``signal [C, T]`` holds NaN or inf: their count and the first one
    in time order (ties: the lowest channel)."""
    bad = ~np.isfinite(signal)
    count = int(bad.sum())
    if count == 0:
        return None
    first_sample = int(bad.any(axis=0).argmax())
    channel = int(bad[:, first_sample].argmax())
    return RecordingProblem(
        NON_FINITE,
        f"{count} non-finite samples (NaN or inf) of {signal.size}; the first at sample "
        f"{first_sample} of {_channel_label(channel, channel_names)}",
        channel,
    )


def too_short_problem(
    n_samples: int, window_length: int, sample_rate_hz: float | None = None
) -> RecordingProblem | None:
    """``too_short`` when ``n_samples < window_length``."""
    if n_samples >= window_length:
        return None

    def span(samples: int) -> str:
        return f"{samples} samples" + (
            "" if sample_rate_hz is None else f" ({samples / sample_rate_hz:.4g} s)"
        )

    at_rate = "" if sample_rate_hz is None else f" at {sample_rate_hz:g} Hz"
    return RecordingProblem(
        TOO_SHORT,
        f"the recording has {span(n_samples)}{at_rate}, shorter than one window of "
        f"{span(window_length)}",
    )


def is_flat(channel: np.ndarray, thresholds: QualityThresholds) -> bool:
    """Whether a finite channel ``[T]`` is flat (module docstring)."""
    peak = float(np.abs(channel).max())
    if float(channel.std()) <= thresholds.flat_relative_tolerance * peak:
        return True
    return len(np.unique(channel)) <= thresholds.flat_max_distinct_values


def samples_in_long_runs(mask: np.ndarray, min_run: int) -> int:
    """How many ``True`` entries of ``mask [T]`` belong to runs of at least ``min_run``."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # run starts and stops, alternating
    lengths = edges[1::2] - edges[::2]
    return int(lengths[lengths >= min_run].sum())


def clipped_fraction(channel: np.ndarray, thresholds: QualityThresholds) -> float:
    """Share of a finite channel's samples at a rail in runs of >= ``clip_min_run`` (module
    docstring). The two rails are disjoint since ``clip_relative_tolerance < 0.5``."""
    high, low = float(channel.max()), float(channel.min())
    tolerance = thresholds.clip_relative_tolerance * (high - low)
    at_rails = samples_in_long_runs(
        channel >= high - tolerance, thresholds.clip_min_run
    ) + samples_in_long_runs(channel <= low + tolerance, thresholds.clip_min_run)
    return at_rails / len(channel)


def check_recording(
    signal: np.ndarray,
    sample_rate_hz: float | None = None,
    window_length: int | None = None,
    channel_names: Sequence[str] | None = None,
    thresholds: QualityThresholds | None = None,
) -> list[RecordingProblem]:
    """Every problem of ``signal [C, T]`` (module docstring); ``[]`` when it is fine.

    ``window_length=None`` skips the length check; ``channel_names`` (C names) label the messages.
    """
    thresholds = QualityThresholds() if thresholds is None else thresholds
    signal = np.asarray(signal)
    if signal.ndim != 2 or signal.size == 0:
        raise ValueError(f"signal must be a non-empty [C, T] array, got shape {signal.shape}")
    if channel_names is not None and len(channel_names) != signal.shape[0]:
        raise ValueError(f"got {len(channel_names)} channel names for {signal.shape[0]} channels")
    if sample_rate_hz is not None:
        check_positive("sample_rate_hz", sample_rate_hz)
    problems: list[RecordingProblem] = []
    if window_length is not None:
        check_int("window_length", window_length)
        short = too_short_problem(signal.shape[1], window_length, sample_rate_hz)
        problems += [] if short is None else [short]
    non_finite = non_finite_problem(signal, channel_names)
    if non_finite is not None:
        return [non_finite, *problems]
    for channel, values in enumerate(signal.astype(np.float64)):
        label = _channel_label(channel, channel_names)
        if is_flat(values, thresholds):
            problems.append(
                RecordingProblem(
                    FLAT,
                    f"{label} is flat (a dead or disconnected sensor?): std {values.std():.3g}, "
                    f"max |x| {np.abs(values).max():.3g}, {len(np.unique(values))} distinct "
                    f"values (flat when std <= {thresholds.flat_relative_tolerance:g} max |x| or "
                    f"<= {thresholds.flat_max_distinct_values} distinct values)",
                    channel,
                )
            )
            continue
        fraction = clipped_fraction(values, thresholds)
        if fraction > thresholds.clip_max_fraction:
            problems.append(
                RecordingProblem(
                    CLIPPED,
                    f"{label} looks clipped: {fraction:.1%} of its samples sit at its extremes "
                    f"(max {values.max():.6g}, min {values.min():.6g}) in runs of >= "
                    f"{thresholds.clip_min_run} samples (threshold "
                    f"{thresholds.clip_max_fraction:.1%})",
                    channel,
                )
            )
    return problems


def raise_for_problems(problems: Sequence[RecordingProblem], source: str) -> None:
    """Raise ``ValueError("<source>: <message>; <message>...")`` when ``problems`` is not empty."""
    if problems:
        raise ValueError(f"{source}: " + "; ".join(p.message for p in problems))


def reading_problem(error: OSError | ValueError) -> RecordingProblem:
    """The :class:`RecordingProblem` of a file that ``read_recording`` refused with ``error``
    (its reason one of :data:`READING_REASONS`, its message the error's)."""
    if isinstance(error, FileNotFoundError):
        return RecordingProblem(NOT_FOUND, str(error))
    message = str(error)
    reason = next((r for r, text in _READING_MESSAGES if text in message), UNREADABLE)
    return RecordingProblem(reason, message)
