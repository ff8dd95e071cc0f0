"""Spectra of vibration signals: NumPy analysis tools and torch input transforms.

Analysis (NumPy / SciPy, single-sided amplitude spectra of ``signal: [..., T]``):

- :func:`magnitude_spectrum`: ``A(f_k) = c_k |X_k| / T`` with ``X = rfft(x)``, ``c_0 = 1`` and
  ``c_k = 2`` otherwise (``c = 1`` at Nyquist for even ``T``), so a sinusoid of amplitude ``a``
  at a bin frequency gives ``A = a``.
- :func:`envelope_spectrum`: the same spectrum of the Hilbert envelope ``|x + i H[x]|`` (mean
  removed), optionally after a Butterworth band-pass around a structural resonance. Bearing defects
  excite the resonance at the defect rate, so the envelope spectrum shows lines at BPFO / BPFI / BSF
  (Randall & Antoni, "Rolling element bearing diagnostics - a tutorial", MSSP 2011).

Torch transforms for model inputs ``x: [B, C, L]`` (device and dtype follow the input):
:class:`PerWindowStandardize` (``(x - mean_L) / std_L`` per window and channel, which removes the
gain differences between loads and sensors), :class:`FFTMagnitude` (``|rfft(x)| / L``, invariant to
time shifts) and :class:`EnvelopeSpectrum`. Models fed raw windows tend to break when the shaft
speed changes between loads; spectral inputs make fault lines explicit features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal
import torch
from torch import nn

from contrastlab._checks import check_float_tensor, check_positive


def _amplitude_scale(n_samples: int) -> np.ndarray:
    scale = np.full(n_samples // 2 + 1, 2.0 / n_samples)
    scale[0] = 1.0 / n_samples
    if n_samples % 2 == 0:
        scale[-1] = 1.0 / n_samples
    return scale


def _as_signal(signal: np.ndarray | Sequence[float]) -> np.ndarray:
    array = np.asarray(signal, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] < 2:
        raise ValueError(f"signal must have at least 2 samples on its last axis, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("signal contains NaN or inf values")
    return array


def magnitude_spectrum(
    signal: np.ndarray | Sequence[float], sample_rate_hz: float, window: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Single-sided amplitude spectrum of ``signal: [..., T]``.

    Returns ``(freqs [T//2 + 1] in Hz, amplitude [..., T//2 + 1])``. With ``window`` (a
    :func:`scipy.signal.get_window` name, e.g. ``'hann'``) the amplitude is divided by the window's
    coherent gain, so a bin-centred sinusoid keeps its amplitude.
    """
    check_positive("sample_rate_hz", sample_rate_hz)
    array = _as_signal(signal)
    n_samples = array.shape[-1]
    if window is not None:
        taper = scipy.signal.get_window(window, n_samples)
        array = array * taper / taper.mean()
    amplitude = np.abs(np.fft.rfft(array, axis=-1)) * _amplitude_scale(n_samples)
    return np.fft.rfftfreq(n_samples, d=1.0 / sample_rate_hz), amplitude


def bandpass(
    signal: np.ndarray | Sequence[float],
    sample_rate_hz: float,
    band: tuple[float, float],
    order: int = 4,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``signal: [..., T]`` (``sosfiltfilt``) to ``band`` Hz."""
    check_positive("sample_rate_hz", sample_rate_hz)
    low, high = (float(b) for b in band)
    if not 0 < low < high < sample_rate_hz / 2:
        raise ValueError(
            f"band must satisfy 0 < low < high < Nyquist ({sample_rate_hz / 2} Hz), got {band}"
        )
    sos = scipy.signal.butter(order, (low, high), btype="bandpass", fs=sample_rate_hz, output="sos")
    return scipy.signal.sosfiltfilt(sos, _as_signal(signal), axis=-1)


def envelope_spectrum(
    signal: np.ndarray | Sequence[float],
    sample_rate_hz: float,
    band: tuple[float, float] | None = None,
    filter_order: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude spectrum of the Hilbert envelope of ``signal: [..., T]``.

    ``e(t) = |x(t) + i H[x](t)|`` (``scipy.signal.hilbert``) after an optional band-pass to ``band``
    (Hz); the envelope's mean is removed before :func:`magnitude_spectrum`, so bin 0 is ~0.
    Returns ``(freqs [T//2 + 1], amplitude [..., T//2 + 1])``.
    """
    array = _as_signal(signal)
    if band is not None:
        array = bandpass(array, sample_rate_hz, band, filter_order)
    envelope = np.abs(scipy.signal.hilbert(array, axis=-1))
    envelope = envelope - envelope.mean(axis=-1, keepdims=True)
    return magnitude_spectrum(envelope, sample_rate_hz)


# ---------------------------------------------------------------- torch transforms


def _spectral_dtype(x: torch.Tensor) -> torch.dtype:
    # FFTs of half-precision inputs are not supported on every device; compute in float32 at least.
    return torch.promote_types(x.dtype, torch.float32)


def per_window_standardize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` over the last axis of ``x: [..., L]`` (population std)."""
    check_float_tensor("x", x)
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def fft_magnitude(x: torch.Tensor, drop_dc: bool = True, log: bool = False) -> torch.Tensor:
    """``|rfft(x)| / L`` over the last axis of ``x: [..., L]`` -> ``[..., L//2 + 1]``
    (``[..., L//2]`` with ``drop_dc``); ``log`` returns ``log1p`` of it."""
    check_float_tensor("x", x)
    length = x.shape[-1]
    magnitude = torch.fft.rfft(x.to(_spectral_dtype(x)), dim=-1).abs() / length
    if drop_dc:
        magnitude = magnitude[..., 1:]
    if log:
        magnitude = torch.log1p(magnitude)
    return magnitude.to(x.dtype) if x.dtype in (torch.float16, torch.bfloat16) else magnitude


def hilbert_envelope(x: torch.Tensor) -> torch.Tensor:
    """``|analytic signal|`` of ``x: [..., L]``, as :func:`scipy.signal.hilbert` computes it:
    ``X = fft(x)``, positive frequencies doubled, negative ones zeroed, ``|ifft(X)|``."""
    check_float_tensor("x", x)
    length = x.shape[-1]
    weights = torch.zeros(length, dtype=_spectral_dtype(x), device=x.device)
    weights[0] = 1.0
    if length % 2 == 0:
        weights[1 : length // 2] = 2.0
        weights[length // 2] = 1.0
    else:
        weights[1 : (length + 1) // 2] = 2.0
    spectrum = torch.fft.fft(x.to(weights.dtype), dim=-1)
    return torch.fft.ifft(spectrum * weights, dim=-1).abs()


class PerWindowStandardize(nn.Module):
    """Model input transform: standardise each window and channel of ``x: [B, C, L]``."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_window_standardize(x, self.eps)


class FFTMagnitude(nn.Module):
    """Model input transform ``[B, C, L] -> [B, C, L//2]``: FFT magnitude without DC, optionally
    log-compressed and standardised per window (see :func:`fft_magnitude`)."""

    def __init__(self, log: bool = True, standardize: bool = True) -> None:
        super().__init__()
        self.log = log
        self.standardize = standardize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        magnitude = fft_magnitude(x, drop_dc=True, log=self.log)
        return per_window_standardize(magnitude) if self.standardize else magnitude


class EnvelopeSpectrum(nn.Module):
    """Model input transform ``[B, C, L] -> [B, C, L//2]``: FFT magnitude of the (mean-removed)
    Hilbert envelope of each window, without DC, optionally standardised per window."""

    def __init__(self, standardize: bool = True) -> None:
        super().__init__()
        self.standardize = standardize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        envelope = hilbert_envelope(x)
        envelope = envelope - envelope.mean(dim=-1, keepdim=True)
        magnitude = fft_magnitude(envelope, drop_dc=True)
        magnitude = per_window_standardize(magnitude) if self.standardize else magnitude
        return magnitude.to(x.dtype)
