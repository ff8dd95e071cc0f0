"""Speed-change and spectral-tilt views: frequency scaling, smooth gains, shapes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastlab.data.signal_views import (
    SpectralTilt,
    SpeedChange,
    physical_views,
    signal_views_augment,
    spectral_tilt,
    speed_change,
)


def peak_bin(x: torch.Tensor) -> int:
    return int(torch.fft.rfft(x.double()).abs()[1:].argmax()) + 1


def test_speed_change_moves_a_tone_by_the_drawn_factor():
    length, cycles = 4096, 200
    time = torch.arange(length, dtype=torch.float64)
    tone = torch.sin(2 * math.pi * cycles * time / length)[None, None].repeat(64, 1, 1)
    torch.manual_seed(0)
    changed = speed_change(tone.float(), 0.05)
    ratios = torch.tensor([peak_bin(row[0]) / cycles for row in changed])
    assert ratios.min() >= 0.95 - 1 / cycles and ratios.max() <= 1.05 + 1 / cycles
    assert ratios.std() > 0.01  # one speed per sample, not one per batch


def test_speed_change_matches_a_slow_interpolation_reference():
    x = torch.randn(3, 2, 50)
    torch.manual_seed(7)
    out = speed_change(x, 0.1)
    torch.manual_seed(7)
    speeds = 1 + 0.1 * (2 * torch.rand(3, 1) - 1)
    expected = torch.empty_like(x)
    for b in range(3):
        for t in range(50):
            position = (t * float(speeds[b])) % 50
            low = math.floor(position)
            weight = position - low
            expected[b, :, t] = x[b, :, low] * (1 - weight) + x[b, :, (low + 1) % 50] * weight
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_zero_change_and_zero_tilt_are_identities():
    x = torch.randn(4, 1, 128)
    torch.testing.assert_close(speed_change(x, 0.0), x)
    torch.testing.assert_close(spectral_tilt(x, 0.0), x, atol=1e-5, rtol=1e-5)


def test_spectral_tilt_is_a_smooth_gain_shared_by_channels():
    x = torch.randn(2, 3, 1024, dtype=torch.float64)
    torch.manual_seed(1)
    out = spectral_tilt(x, 6.0, n_knots=4)
    gain = torch.fft.rfft(out).abs() / torch.fft.rfft(x).abs()
    torch.testing.assert_close(gain[:, 0], gain[:, 2])  # one transfer path for all channels
    log_gain = 20 * torch.log10(gain[0, 0]).numpy()
    assert np.abs(np.diff(log_gain)).max() < 0.1  # smooth: piecewise linear in dB
    assert np.ptp(log_gain) > 0.5
    assert out.dtype == x.dtype and out.shape == x.shape


def test_views_augment_keeps_shape_and_skips_switched_off_parts():
    augment = signal_views_augment(256)
    x = torch.randn(5, 1, 256)
    assert augment(x).shape == x.shape
    kinds = [type(m) for m in augment.augmentations]
    assert SpeedChange in kinds and SpectralTilt in kinds
    plain = [type(m) for m in signal_views_augment(256, 0.0, 0.0).augmentations]
    assert SpeedChange not in plain and SpectralTilt not in plain


def test_physical_views_are_the_load_nuisances_with_their_sizes():
    views = physical_views(0.05, 2.0)
    assert [type(v) for v in views] == [SpeedChange, SpectralTilt]
    assert views[0].max_change == 0.05 and views[1].max_db == 2.0
    assert [type(v) for v in physical_views(0.0, 2.0)] == [SpectralTilt]
    assert physical_views(0.0, 0.0) == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: speed_change(torch.randn(2, 8), 0.1), "3-D"),
        (lambda: speed_change(torch.randn(2, 1, 8), 1.5), "max_change"),
        (lambda: spectral_tilt(torch.randn(2, 1, 8), -1.0), "max_db"),
        (lambda: spectral_tilt(torch.randn(2, 1, 8), 1.0, n_knots=1), "n_knots"),
        (lambda: SpeedChange(-0.1), "max_change"),
        (lambda: signal_views_augment(1), "length"),
    ],
)
def test_bad_arguments_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
