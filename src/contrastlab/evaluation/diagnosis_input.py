"""The input checks of ``contrastlab diagnose``: one recording file, made ready for a model or
refused with named reasons, before any verdict.

:func:`check_input` reads the file (:func:`contrastlab.data.recordings.read_recording`), picks the
model's channels, settles the sample rate, checks the samples
(:func:`contrastlab.data.recording_checks.check_recording`: non-finite, flat, clipped; too short
for one window at the model's rate), resamples to the model's rate and compares the shaft speed
with the training speeds. Each refusal is a
:class:`~contrastlab.data.recording_checks.RecordingProblem` with a reason from
:data:`REJECTION_REASONS`; every problem of a file is listed, not only the first. Nothing here
raises for a bad file: the other files of the same call still get their verdicts.

- **Channels.** ``.mat`` files are read by the model's channel codes (CWRU naming: ``XNNN_DE_time``)
  or by ``variable``; other formats keep the channels named like the model's, else all of them
  when there are as many as the model reads (``.npy`` and header-less ``.csv`` channels have no
  names); otherwise ``channels``.
- **Sample rate.** A ``.wav`` file states its rate; other formats take ``sample_rate_hz``, else
  a CWRU-named file (``12k_Drive_End_...``, ``normal_...``) is 12 kHz. When none is known the
  file is read as if sampled at the model's rate, with a warning: a recording at another rate
  then looks unlike the training windows, which the out-of-distribution check of
  :mod:`contrastlab.pipelines.diagnose` reports as ``uncertain``. A known rate other than the
  model's is converted by polyphase resampling (:func:`contrastlab.data.resample.resample_signal`);
  a ratio it refuses is the reason ``sample_rate``.
- **Shaft speed.** ``rpm`` (else the speed a CWRU file records) is compared with the training
  speeds stored in ``model.pt``: outside ``[min (1 - tolerance), max (1 + tolerance)]``, where
  ``tolerance`` is the relative speed change the training views covered, it is a warning (the
  verdict is still given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contrastlab.data.cwru import SAMPLE_RATE_HZ as CWRU_SAMPLE_RATE_HZ
from contrastlab.data.cwru_names import cwru_filename_or_none
from contrastlab.data.recording_checks import (
    READING_REASONS,
    REASONS,
    RecordingProblem,
    check_recording,
    reading_problem,
    too_short_problem,
)
from contrastlab.data.recordings import Recording, read_recording
from contrastlab.data.resample import resample_signal, resampling_factors
from contrastlab.models.diagnosis_model import DiagnosisModel

CHANNELS = "channels"
SAMPLE_RATE = "sample_rate"
REJECTION_REASONS = (*READING_REASONS, CHANNELS, SAMPLE_RATE, *REASONS)


@dataclass(frozen=True)
class CheckedInput:
    """A file after the input checks: ``signal [C, T]`` at the model's rate (``None`` when
    ``problems`` refuse it), the rate it was read at (``None``: unknown, taken as the model's),
    whether it was resampled, the shaft speed used (``None``: unknown) and warnings."""

    signal: np.ndarray | None
    problems: list[RecordingProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sample_rate_hz: float | None = None
    resampled: bool = False
    rpm: float | None = None


def _read(path: Path, model: DiagnosisModel, variable: str | None) -> Recording:
    if path.suffix.lower() != ".mat":
        return read_recording(path)
    if variable is not None:
        return read_recording(path, variable=variable)
    return read_recording(path, channels=model.channels)


def _channel_rows(recording: Recording, model: DiagnosisModel) -> list[int] | None:
    """Rows of the model's channels in ``recording``: by name, else all of them when the counts
    agree (unnamed channels), else ``None``."""
    names = list(recording.channel_names)
    if all(channel in names for channel in model.channels):
        return [names.index(channel) for channel in model.channels]
    if len(names) == len(model.channels):
        return list(range(len(names)))
    return None


def _rate(
    recording: Recording, model: DiagnosisModel, sample_rate_hz: float | None, warnings: list[str]
) -> float | None:
    """The rate to read ``recording`` at (``None``: unknown), adding the warnings it implies."""
    stated = recording.sample_rate_hz
    if stated is not None:
        if sample_rate_hz is not None and sample_rate_hz != stated:
            warnings.append(
                f"--sample_rate_hz {sample_rate_hz:g} ignored: the file states {stated:g} Hz"
            )
        return stated
    if sample_rate_hz is None and cwru_filename_or_none(recording.path) is not None:
        return float(CWRU_SAMPLE_RATE_HZ)
    if sample_rate_hz is None:
        warnings.append(
            f"sample rate unknown ({recording.path.suffix} files do not store it and "
            f"--sample_rate_hz was not given): read as the model's {model.sample_rate_hz:g} Hz"
        )
    return sample_rate_hz


def speed_warning(model: DiagnosisModel, rpm: float | None) -> str | None:
    """A warning when ``rpm`` lies outside the training speeds widened by the model's speed
    tolerance (module docstring); ``None`` when it lies inside or is unknown."""
    if rpm is None:
        return None
    if model.training_rpm is None:
        return f"model.pt stores no training shaft speed: {rpm:g} rpm is not checked"
    low, high = model.training_rpm["min"], model.training_rpm["max"]
    tolerance = model.speed_tolerance
    if low * (1 - tolerance) <= rpm <= high * (1 + tolerance):
        return None
    nearest = low if rpm < low else high
    return (
        f"shaft speed {rpm:g} rpm is {abs(rpm - nearest) / nearest:.1%} from the training speeds "
        f"({low:g}-{high:g} rpm; the training views covered +-{tolerance:.1%}): the verdict may "
        "not hold at this speed"
    )


def _speed(recording: Recording, rpm: float | None, warnings: list[str]) -> float | None:
    recorded = recording.rpm
    if rpm is not None and recorded is not None and rpm != recorded:
        warnings.append(f"--rpm {rpm:g} used; the file records {recorded:g} rpm")
    return rpm if rpm is not None else recorded


def _length_at(n_samples: int, source_hz: float | None, target_hz: float) -> int:
    """Samples after resampling ``n_samples`` from ``source_hz`` to ``target_hz`` (as
    :func:`~contrastlab.data.resample.resample_signal` gives them)."""
    if source_hz is None:
        return n_samples
    up, down = resampling_factors(source_hz, target_hz)
    return math.ceil(n_samples * up / down)


def check_input(
    path: Path,
    model: DiagnosisModel,
    sample_rate_hz: float | None = None,
    rpm: float | None = None,
    variable: str | None = None,
) -> CheckedInput:
    """Run the input checks of the module docstring on ``path`` for ``model``."""
    try:
        recording = _read(path, model, variable)
    except (OSError, ValueError) as error:
        return CheckedInput(None, [reading_problem(error)])
    rows = _channel_rows(recording, model)
    if rows is None:
        message = (
            f"the model reads {len(model.channels)} channel(s) {model.channels}; the file has "
            f"{recording.n_channels}: {list(recording.channel_names)}"
        )
        return CheckedInput(None, [RecordingProblem(CHANNELS, message)])
    warnings: list[str] = []
    rate = _rate(recording, model, sample_rate_hz, warnings)
    speed = _speed(recording, rpm, warnings)
    facts = {"warnings": warnings, "sample_rate_hz": rate, "rpm": speed}
    signal = recording.signal[rows]
    names = [recording.channel_names[row] for row in rows]
    try:
        n_samples = _length_at(signal.shape[1], rate, model.sample_rate_hz)
    except ValueError as error:
        return CheckedInput(None, [RecordingProblem(SAMPLE_RATE, str(error))], **facts)
    problems = check_recording(signal, rate, channel_names=names)
    short = too_short_problem(n_samples, model.window_length, model.sample_rate_hz)
    problems += [] if short is None else [short]
    if problems:
        return CheckedInput(None, problems, **facts)
    resampled = rate is not None and rate != model.sample_rate_hz
    if rate is not None and resampled:
        signal = resample_signal(signal, rate, model.sample_rate_hz)
    warning = speed_warning(model, speed)
    warnings += [] if warning is None else [warning]
    return CheckedInput(signal, [], resampled=resampled, **facts)
