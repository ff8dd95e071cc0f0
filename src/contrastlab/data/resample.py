"""Polyphase resampling of recordings ``[C, T]`` from one sample rate to another.

The rate ratio ``target / source`` is written as a reduced fraction ``up / down`` (48 kHz ->
12 kHz is 1/4, 44.1 kHz -> 12 kHz is 40/147) and :func:`scipy.signal.resample_poly` upsamples by
``up``, low-pass filters (a Kaiser-windowed FIR whose cut-off is the lower of the two Nyquist
frequencies, so nothing aliases) and keeps every ``down``-th sample. The output has
``ceil(T * up / down)`` samples.

Ratios are refused when they look like a mistake rather than a conversion: a factor of more than
``max_rate_ratio`` (32 by default) either way (rates given in kHz instead of Hz, say), or a
fraction whose ``up`` or ``down`` exceeds ``max_factor`` (1000 by default: the filter has about
``20 * max(up, down)`` taps, and such ratios come from rates like 12000.3 Hz that are not exact).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal

from contrastlab._values import check_int, check_positive


def resampling_factors(
    source_rate_hz: float,
    target_rate_hz: float,
    max_factor: int = 1000,
    max_rate_ratio: float = 32.0,
) -> tuple[int, int]:
    """``(up, down)``, coprime, with ``up / down = target_rate_hz / source_rate_hz``.

    Raises ``ValueError`` when the ratio is beyond ``max_rate_ratio`` either way or is not a
    fraction with ``up, down <= max_factor`` (within a relative 1e-9).
    """
    check_positive("source_rate_hz", source_rate_hz)
    check_positive("target_rate_hz", target_rate_hz)
    check_int("max_factor", max_factor)
    check_positive("max_rate_ratio", max_rate_ratio)
    ratio = target_rate_hz / source_rate_hz
    if not 1.0 / max_rate_ratio <= ratio <= max_rate_ratio:
        raise ValueError(
            f"resampling from {source_rate_hz:g} Hz to {target_rate_hz:g} Hz changes the rate "
            f"{max(ratio, 1 / ratio):.4g}-fold, more than {max_rate_ratio:g}: are both rates in Hz?"
        )
    fraction = Fraction(ratio).limit_denominator(max_factor)
    if fraction.numerator > max_factor or abs(float(fraction) - ratio) > 1e-9 * ratio:
        raise ValueError(
            f"the rate ratio {target_rate_hz:g} / {source_rate_hz:g} Hz is not a fraction up/down "
            f"with up, down <= {max_factor} (closest: {fraction}); check the rates"
        )
    return fraction.numerator, fraction.denominator


def resample_signal(
    signal: np.ndarray,
    source_rate_hz: float,
    target_rate_hz: float,
    max_factor: int = 1000,
    max_rate_ratio: float = 32.0,
) -> np.ndarray:
    """Resample ``signal [C, T]`` from ``source_rate_hz`` to ``target_rate_hz`` -> ``[C, T']``
    float64, ``T' = ceil(T * up / down)`` (module docstring; equal rates return a copy)."""
    signal = np.asarray(signal)
    if signal.ndim != 2 or signal.shape[1] == 0:
        raise ValueError(f"signal must be [C, T] with T > 0, got shape {signal.shape}")
    up, down = resampling_factors(source_rate_hz, target_rate_hz, max_factor, max_rate_ratio)
    if up == down:
        return signal.astype(np.float64, copy=True)
    return scipy.signal.resample_poly(signal.astype(np.float64), up, down, axis=1)
