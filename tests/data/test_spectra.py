"""Spectra: closed forms (sinusoids, AM signals), a slow DFT, scipy's Hilbert, real CWRU lines."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch

from contrastlab.data.spectra import (
    EnvelopeSpectrum,
    FFTMagnitude,
    PerWindowStandardize,
    bandpass,
    envelope_spectrum,
    fft_magnitude,
    hilbert_envelope,
    magnitude_spectrum,
    per_window_standardize,
)

FS = 1000.0


def test_magnitude_spectrum_matches_slow_dft() -> None:
    rng = np.random.default_rng(0)
    for n in (16, 17):
        x = rng.normal(size=n)
        freqs, amplitude = magnitude_spectrum(x, FS)
        for k in range(n // 2 + 1):
            dft = sum(x[t] * np.exp(-2j * np.pi * k * t / n) for t in range(n))
            scale = 1 / n if k == 0 or (n % 2 == 0 and k == n // 2) else 2 / n
            assert amplitude[k] == pytest.approx(abs(dft) * scale)
            assert freqs[k] == pytest.approx(k * FS / n)


@pytest.mark.parametrize("window", [None, "hann"])
def test_sinusoid_amplitude_is_recovered(window: str | None) -> None:
    t = np.arange(1000) / FS
    x = 0.5 + 3.0 * np.sin(2 * np.pi * 50 * t) + 1.5 * np.cos(2 * np.pi * 120 * t)
    freqs, amplitude = magnitude_spectrum(x, FS, window=window)
    assert amplitude[freqs == 50][0] == pytest.approx(3.0, rel=1e-6)
    assert amplitude[freqs == 120][0] == pytest.approx(1.5, rel=1e-6)
    if window is None:
        assert amplitude[0] == pytest.approx(0.5)


def test_envelope_spectrum_of_am_signal() -> None:
    """x = (1 + m cos 2 pi fm t) cos 2 pi fc t has envelope 1 + m cos 2 pi fm t: a line m at fm."""
    t = np.arange(4000) / FS
    m, fm, fc = 0.4, 12.0, 200.0
    x = (1 + m * np.cos(2 * np.pi * fm * t)) * np.cos(2 * np.pi * fc * t)
    freqs, amplitude = envelope_spectrum(x, FS)
    assert amplitude[freqs == fm][0] == pytest.approx(m, rel=1e-3)
    assert amplitude[0] == pytest.approx(0.0, abs=1e-9)  # mean removed
    # A strong tone outside the band is removed by the band-pass before the envelope.
    noisy = x + 5 * np.sin(2 * np.pi * 30 * t)
    freqs, amplitude = envelope_spectrum(noisy, FS, band=(150, 250))
    assert amplitude[freqs == fm][0] == pytest.approx(m, rel=0.02)
    assert np.argmax(amplitude[1:]) + 1 == np.flatnonzero(freqs == fm)[0]


def test_bandpass_and_errors() -> None:
    t = np.arange(2000) / FS
    x = np.sin(2 * np.pi * 20 * t) + np.sin(2 * np.pi * 300 * t)
    y = bandpass(x, FS, (200, 400))
    _, amplitude = magnitude_spectrum(y[200:-200], FS)
    np.testing.assert_allclose(y[200:-200], np.sin(2 * np.pi * 300 * t)[200:-200], atol=0.02)
    assert amplitude.max() > 0.9
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass(x, FS, (100, 600))
    with pytest.raises(ValueError, match="at least 2 samples"):
        magnitude_spectrum([1.0], FS)
    with pytest.raises(ValueError, match="NaN"):
        envelope_spectrum([1.0, np.nan, 2.0], FS)
    with pytest.raises(ValueError, match="sample_rate_hz"):
        magnitude_spectrum(x, 0)


@pytest.mark.parametrize("length", [64, 65])
def test_torch_hilbert_matches_scipy(length: int) -> None:
    x = torch.randn(3, 2, length, dtype=torch.float64)
    expected = np.abs(scipy.signal.hilbert(x.numpy(), axis=-1))
    torch.testing.assert_close(hilbert_envelope(x), torch.from_numpy(expected))


def test_fft_magnitude_and_standardize() -> None:
    x = torch.randn(4, 2, 128, dtype=torch.float64)
    expected = np.abs(np.fft.rfft(x.numpy(), axis=-1)) / 128
    torch.testing.assert_close(fft_magnitude(x, drop_dc=False), torch.from_numpy(expected))
    assert fft_magnitude(x).shape == (4, 2, 64)
    # A circular shift leaves the magnitude unchanged.
    torch.testing.assert_close(fft_magnitude(torch.roll(x, 17, dims=-1)), fft_magnitude(x))
    z = per_window_standardize(3 * x + 7)
    torch.testing.assert_close(z.mean(-1), torch.zeros(4, 2, dtype=torch.float64))
    torch.testing.assert_close(z.std(-1, unbiased=False), torch.ones(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="floating-point"):
        fft_magnitude(torch.ones(2, 4, dtype=torch.int64))


def test_modules_shapes_and_dtypes() -> None:
    x = torch.randn(5, 3, 256)
    assert PerWindowStandardize()(x).shape == (5, 3, 256)
    assert FFTMagnitude()(x).shape == (5, 3, 128)
    out = EnvelopeSpectrum()(x)
    assert out.shape == (5, 3, 128) and out.dtype == torch.float32
    half = EnvelopeSpectrum()(x.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16 and torch.isfinite(half.float()).all()
    assert FFTMagnitude()(x.double()).dtype == torch.float64


# ---------------------------------------------------------------- real CWRU recordings


def _real_dir() -> Path | None:
    env = os.environ.get("CONTRASTLAB_CWRU_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cwru")
    return next((p for p in candidates if (p / "0HP").is_dir()), None)


@pytest.mark.skipif(_real_dir() is None, reason="real CWRU data not found")
@pytest.mark.parametrize(
    ("file_name", "order"),
    [("12k_Drive_End_IR007_0_105.mat", 5.4152), ("12k_Drive_End_OR007@6_0_130.mat", 3.5848)],
)
def test_real_cwru_envelope_line_at_bpfi_and_bpfo(file_name: str, order: float) -> None:
    from contrastlab.data.cwru import read_cwru_record

    signal, rpm, _ = read_cwru_record(_real_dir() / "0HP" / file_name)
    freqs, amplitude = envelope_spectrum(signal[0], 12_000, band=(2_000, 5_000))
    band = (freqs > 10) & (freqs < 400)
    peak_hz = freqs[band][np.argmax(amplitude[band])]
    # The recorded rpm is rounded and the bearing slips slightly: allow 1 %.
    assert peak_hz == pytest.approx(order * rpm / 60, rel=0.01)
