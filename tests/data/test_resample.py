"""Polyphase resampling: reduced ratios, tones keep their frequency in Hz, no aliasing, round
trip."""

from __future__ import annotations

import numpy as np
import pytest

from contrastlab.data.resample import resample_signal, resampling_factors


def tone(frequency_hz: float, rate_hz: float, seconds: float = 1.0) -> np.ndarray:
    return np.sin(2 * np.pi * frequency_hz * np.arange(int(seconds * rate_hz)) / rate_hz)


def peak_hz(signal: np.ndarray, rate_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate_hz)[spectrum.argmax()])


@pytest.mark.parametrize(
    ("source", "target", "factors"),
    [
        (48_000, 12_000, (1, 4)),
        (12_000, 48_000, (4, 1)),
        (44_100, 12_000, (40, 147)),
        (8_000, 11_025, (441, 320)),
        (12_000.0, 12_000, (1, 1)),
    ],
)
def test_factors_are_the_reduced_ratio(source: float, target: float, factors: tuple) -> None:
    assert resampling_factors(source, target) == factors


def test_absurd_or_inexact_ratios_are_refused() -> None:
    with pytest.raises(ValueError, match="1000-fold, more than 32: are both rates in Hz"):
        resampling_factors(12, 12_000)
    with pytest.raises(ValueError, match=r"12000\.3 / 12000 Hz is not a fraction up/down"):
        resampling_factors(12_000, 12_000.3)
    with pytest.raises(ValueError, match="source_rate_hz must be a positive finite number"):
        resampling_factors(0, 12_000)
    with pytest.raises(ValueError, match=r"signal must be \[C, T\]"):
        resample_signal(np.zeros(10), 48_000, 12_000)


@pytest.mark.parametrize(
    ("source", "target", "frequency"), [(48_000, 12_000, 1000.0), (44_100, 12_000, 1234.0)]
)
def test_a_tone_keeps_its_frequency(source: float, target: float, frequency: float) -> None:
    resampled = resample_signal(tone(frequency, source)[None], source, target)
    up, down = resampling_factors(source, target)
    assert resampled.shape == (1, -(-source * up // down))  # ceil(T * up / down)
    assert abs(peak_hz(resampled[0], target) - frequency) <= target / resampled.shape[1]


def test_downsampling_filters_out_what_would_alias() -> None:
    # 7 kHz lies above the 6 kHz Nyquist frequency of 12 kHz: plain decimation (every 4th sample)
    # folds it onto 5 kHz; the polyphase filter removes it.
    signal = tone(1000.0, 48_000) + tone(7000.0, 48_000)
    resampled = resample_signal(signal[None], 48_000, 12_000)[0]
    spectrum = np.abs(np.fft.rfft(resampled)) / (len(resampled) / 2)
    freqs = np.fft.rfftfreq(len(resampled), 1 / 12_000)
    assert spectrum[freqs == 1000.0][0] == pytest.approx(1.0, abs=0.01)
    assert spectrum[freqs == 5000.0][0] < 0.01
    folded = np.abs(np.fft.rfft(signal[::4])) / (len(resampled) / 2)
    assert folded[freqs == 5000.0][0] > 0.9  # what the filter prevented


def test_round_trip_and_channels_are_independent() -> None:
    rate = 12_000
    signal = np.stack([tone(440.0, rate) + 0.5 * tone(2100.0, rate), tone(3000.0, rate)])
    up = resample_signal(signal, rate, 48_000)
    back = resample_signal(up, 48_000, rate)
    assert back.shape == signal.shape and back.dtype == np.float64
    interior = slice(200, -200)  # the filter's edge transients
    # Each pass scales a tone by the filter's pass-band gain, within 0.3 % of 1 below half Nyquist.
    np.testing.assert_allclose(back[:, interior], signal[:, interior], atol=5e-3)
    np.testing.assert_array_equal(up[1], resample_signal(signal[1:], rate, 48_000)[0])
    same = resample_signal(signal, rate, rate)
    assert same is not signal
    np.testing.assert_array_equal(same, signal)
