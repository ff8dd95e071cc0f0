"""Quality checks: each problem on a generated signal that has it, and realistic good signals (sine
plus noise, a pure slow sine, quantised audio, simulated impulsive bearing faults) left alone; each
reading failure of a generated file gets its named reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from contrastlab.data.bearing_sim import simulate_bearing_record
from contrastlab.data.recording_checks import (
    CLIPPED,
    FLAT,
    NON_FINITE,
    READING_REASONS,
    TOO_SHORT,
    UNREADABLE,
    QualityThresholds,
    check_recording,
    clipped_fraction,
    raise_for_problems,
    reading_problem,
    samples_in_long_runs,
)
from contrastlab.data.recordings import read_recording

RATE = 12_000.0
TIME = np.arange(24_000) / RATE
RNG = np.random.default_rng(0)


def reasons(signal: np.ndarray, **options: object) -> list[tuple[str, int | None]]:
    return [(p.reason, p.channel) for p in check_recording(signal, RATE, 2048, **options)]


def good_signals() -> dict[str, np.ndarray]:
    noise = np.random.default_rng(1).standard_normal(len(TIME))
    return {
        "sine_plus_noise": np.sin(2 * np.pi * 157 * TIME) + 0.1 * noise,
        "pure_slow_sine": 3 * np.sin(2 * np.pi * 10 * TIME),
        "int16_sine": np.round(np.sin(2 * np.pi * 10 * TIME) * 32767) / 32768,
        "white_noise_with_offset": 100 + 0.01 * noise,
        "inner_race_fault": simulate_bearing_record("IR021", n_samples=len(TIME), seed=0).signal,
        "ball_fault": simulate_bearing_record("B007", n_samples=len(TIME), seed=1).signal,
        "normal_bearing": simulate_bearing_record("normal", n_samples=len(TIME), seed=2).signal,
    }


@pytest.mark.parametrize("name", sorted(good_signals()))
def test_realistic_signals_pass(name: str) -> None:
    assert check_recording(good_signals()[name][None], RATE, 2048) == []


def test_non_finite_count_and_first_index() -> None:
    signal = RNG.standard_normal((2, 3000))
    signal[0, 50], signal[1, 30], signal[0, 2999] = np.inf, np.nan, -np.inf
    (problem,) = check_recording(signal, RATE, 2048, channel_names=["DE", "FE"])
    assert (problem.reason, problem.channel) == (NON_FINITE, 1)
    assert "3 non-finite samples (NaN or inf) of 6000" in problem.message
    assert "first at sample 30 of channel 'FE'" in problem.message
    # A non-finite signal is not judged for flatness or clipping, but still for its length.
    dead = np.full((1, 100), np.nan)
    assert reasons(dead) == [(NON_FINITE, 0), (TOO_SHORT, None)]


def test_too_short_in_samples_and_seconds() -> None:
    (problem,) = check_recording(RNG.standard_normal((1, 1000)), RATE, 2048)
    assert problem.reason == TOO_SHORT
    assert problem.message == (
        "the recording has 1000 samples (0.08333 s) at 12000 Hz, shorter than one window of "
        "2048 samples (0.1707 s)"
    )
    (no_rate,) = check_recording(RNG.standard_normal((1, 1000)), None, 2048)
    assert no_rate.message.startswith("the recording has 1000 samples, shorter than one window")
    assert check_recording(RNG.standard_normal((1, 2048)), RATE, 2048) == []
    assert check_recording(RNG.standard_normal((1, 10)), RATE) == []  # no window given


@pytest.mark.parametrize(
    "dead",
    [
        np.zeros(len(TIME)),  # a disconnected sensor
        np.full(len(TIME), 2.5) + 1e-9 * RNG.standard_normal(len(TIME)),  # DC and rounding noise
        RNG.integers(-1, 2, len(TIME)) / 32768,  # an ADC flickering between three codes
    ],
)
def test_flat_channel_is_named(dead: np.ndarray) -> None:
    live = good_signals()["sine_plus_noise"]
    problems = check_recording(np.stack([live, dead]), RATE, 2048, channel_names=["DE", "FE"])
    assert [(p.reason, p.channel) for p in problems] == [(FLAT, 1)]
    assert problems[0].message.startswith("channel 'FE' is flat (a dead or disconnected sensor?)")


def test_flat_thresholds_are_parameters() -> None:
    four_codes = RNG.integers(-2, 2, len(TIME)) / 32768  # not flat by default, but at its rails
    assert reasons(four_codes[None]) == [(CLIPPED, 0)]
    loose = QualityThresholds(flat_max_distinct_values=4)
    assert reasons(four_codes[None], thresholds=loose) == [(FLAT, 0)]


def test_clipped_sine_and_its_threshold() -> None:
    clipped = np.clip(1.5 * np.sin(2 * np.pi * 50 * TIME), -1.0, 1.0)
    (problem,) = check_recording(clipped[None], RATE, 2048)
    assert (problem.reason, problem.channel) == (CLIPPED, 0)
    # The fraction: samples exactly at +-1 (in runs of >= 3), counted independently.
    expected = np.mean(np.abs(clipped) == 1.0)
    assert clipped_fraction(clipped, QualityThresholds()) == pytest.approx(expected)
    assert f"{expected:.1%} of its samples sit at its extremes" in problem.message
    lenient = QualityThresholds(clip_max_fraction=expected + 0.01)
    assert check_recording(clipped[None], RATE, 2048, thresholds=lenient) == []
    # Clipping on one rail only (an offset sensor saturating upwards) counts too.
    one_rail = np.minimum(np.sin(2 * np.pi * 50 * TIME) + 0.3, 1.0)
    assert reasons(one_rail[None]) == [(CLIPPED, 0)]


def test_isolated_extremes_are_not_clipping() -> None:
    """Samples at the extreme one or two at a time (no saturation plateau) are not counted."""
    signal = RNG.standard_normal(len(TIME))
    signal[::40] = signal.max()  # 2.5 % of samples at the peak, but never 3 in a row
    assert clipped_fraction(signal, QualityThresholds()) == 0.0
    signal[::40][: len(signal[::40]) // 2] = signal.max()
    signal[1::40] = signal.max()
    signal[2::40] = signal.max()  # now runs of three at the peak
    assert clipped_fraction(signal, QualityThresholds()) > 0.05


def _long_run_count_by_loop(mask: np.ndarray, min_run: int) -> int:
    total, run = 0, 0
    for value in [*mask.tolist(), False]:
        if value:
            run += 1
            continue
        total += run if run >= min_run else 0
        run = 0
    return total


@pytest.mark.parametrize("min_run", [1, 2, 3, 7])
def test_samples_in_long_runs_matches_a_loop(min_run: int) -> None:
    for seed in range(5):
        mask = np.random.default_rng(seed).random(500) < 0.6
        assert samples_in_long_runs(mask, min_run) == _long_run_count_by_loop(mask, min_run)
    assert samples_in_long_runs(np.ones(9, dtype=bool), 9) == 9


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"non-empty \[C, T\] array, got shape \(10,\)"):
        check_recording(np.zeros(10))
    with pytest.raises(ValueError, match="got 1 channel names for 2 channels"):
        check_recording(np.zeros((2, 10)), channel_names=["DE"])
    with pytest.raises(ValueError, match=r"clip_relative_tolerance must be < 0\.5"):
        QualityThresholds(clip_relative_tolerance=0.5)
    with pytest.raises(ValueError, match="clip_min_run must be an integer >= 1"):
        QualityThresholds(clip_min_run=0)


def test_raise_for_problems_names_the_source() -> None:
    raise_for_problems([], "fine.wav")
    problems = check_recording(np.zeros((1, 100)), RATE, 2048)
    with pytest.raises(
        ValueError, match=r"^dead\.wav: the recording has 100 samples.*; channel 0 is"
    ):
        raise_for_problems(problems, "dead.wav")


def _unreadable_files(folder: Path) -> dict[str, Path]:
    """One file read_recording refuses per reading reason (the key)."""
    signal = good_signals()["inner_race_fault"]
    whole = folder / "whole.mat"
    scipy.io.savemat(whole, {"X105_DE_time": signal[:, None]})
    truncated = folder / "12k_Drive_End_IR007_0_105.mat"
    truncated.write_bytes(whole.read_bytes()[:300])
    (folder / "empty.npy").write_bytes(b"")
    (folder / "notes.txt").write_text("1\n2\n")
    np.save(folder / "complex.npy", signal.astype(np.complex128))
    scipy.io.savemat(folder / "matrix.mat", {"a_DE_time": np.ones((3, 500)), "rpm": 1.0})
    scipy.io.savemat(folder / "12k_Drive_End_B007_0_118.mat", {"X118_FE_time": signal})
    np.save(folder / "text.npy", np.array(["a", "b"]))
    return {
        "not_found": folder / "absent.wav",
        "empty": folder / "empty.npy",
        "unsupported": folder / "notes.txt",
        "unreadable": truncated,
        "complex": folder / "complex.npy",
        "matrix": folder / "matrix.mat",
        "missing_channel": folder / "12k_Drive_End_B007_0_118.mat",
        "no_numbers": folder / "text.npy",
    }


def test_reading_problems_are_named(tmp_path: Path) -> None:
    for expected, path in _unreadable_files(tmp_path).items():
        with pytest.raises((OSError, ValueError)) as caught:
            read_recording(path)
        problem = reading_problem(caught.value)
        reason = UNREADABLE if expected == "no_numbers" else expected
        assert problem.reason == reason, (expected, problem.message)
        assert problem.message == str(caught.value) and problem.channel is None
        assert reason in READING_REASONS
    with pytest.raises(ValueError) as caught:
        read_recording(tmp_path / "matrix.mat")
    assert "'a_DE_time'" in str(caught.value) and "'rpm'" in str(caught.value)  # the variables
