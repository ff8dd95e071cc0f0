"""The augmentations the signal pipelines contrast: generic ones plus speed and transfer changes.

Contrastive pretraining learns to ignore what its augmentations change. The generic catalogue
(:func:`contrastlab.data.signal_augment.default_signal_augment`: shift, jitter, scaling, time and
frequency masking) leaves one nuisance of rotating machinery untouched: the **shaft speed**, which
changes with the motor load (CWRU: 1797 rpm at 0 hp, 1772 rpm at 1 hp) and moves every
speed-locked spectral line (shaft harmonics, BPFO, BPFI, BSF) by the same factor, and the
**transfer path**, whose gain per frequency band changes with the load. Two augmentations model
them:

- :func:`speed_change`: resample the window in time by ``s ~ U[1 - a, 1 + a]``, so a component at
  frequency ``f`` moves to ``s f``;
- :func:`spectral_tilt`: multiply the spectrum by a smooth random gain curve (a few dB).

Without them, SimCLR features of CWRU windows classify the other load's recordings poorly (see
``docs/bearing.md`` for the measured figures).

Batches are ``x: [B, C, L]`` float; random numbers come from torch's global generator on
``x.device``; outputs keep shape, dtype and device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_float_tensor, check_non_negative
from contrastlab.data.signal_augment import (
    FrequencyMasking,
    Jitter,
    RandomSignalAugment,
    Scaling,
    TimeMasking,
    TimeShift,
)


def speed_change(x: torch.Tensor, max_change: float) -> torch.Tensor:
    """Resample every sample of ``x [B, C, L]`` at speed ``s_b ~ U[1 - a, 1 + a]`` (``a`` =
    ``max_change`` < 1): ``y[t] = x((s_b t) mod L)``, linearly interpolated between neighbouring
    samples (circularly, as the window's FFT assumes). A component at frequency ``f`` appears at
    ``s_b f`` in ``y``; the length stays ``L``."""
    check_float_tensor("x", x, ndim=3)
    if not (isinstance(max_change, (int, float)) and 0 <= max_change < 1):
        raise ValueError(f"max_change must be in [0, 1), got {max_change!r}")
    batch, channels, length = x.shape
    speeds = 1 + max_change * (2 * torch.rand(batch, 1, device=x.device) - 1)
    positions = (torch.arange(length, device=x.device) * speeds) % length  # [B, L], float32
    lower = positions.floor().long()
    weight = (positions - lower).to(x.dtype)[:, None, :]
    upper = (lower + 1) % length
    expand = (batch, channels, length)
    below = torch.gather(x, 2, lower[:, None, :].expand(expand))
    above = torch.gather(x, 2, upper[:, None, :].expand(expand))
    return below * (1 - weight) + above * weight


def spectral_tilt(x: torch.Tensor, max_db: float, n_knots: int = 8) -> torch.Tensor:
    """Filter ``x [B, C, L]`` with a smooth random gain curve: ``y = irfft(rfft(x) * g, n=L)``,
    ``g(f) = 10^(G(f) / 20)`` where ``G`` interpolates linearly between ``n_knots`` gains in dB,
    drawn i.i.d. ``N(0, max_db^2)`` per sample at equally spaced frequencies (all channels
    alike, as one transfer path)."""
    check_float_tensor("x", x, ndim=3)
    check_non_negative("max_db", max_db)
    if isinstance(n_knots, bool) or not isinstance(n_knots, int) or n_knots < 2:
        raise ValueError(f"n_knots must be an integer >= 2, got {n_knots!r}")
    batch, _, length = x.shape
    compute = torch.promote_types(x.dtype, torch.float32)
    spectrum = torch.fft.rfft(x.to(compute), dim=-1)
    knots_db = max_db * torch.randn(batch, 1, n_knots, device=x.device, dtype=compute)
    gain_db = F.interpolate(knots_db, size=spectrum.shape[-1], mode="linear", align_corners=True)
    gain = torch.exp(gain_db * (math.log(10) / 20))
    return torch.fft.irfft(spectrum * gain, n=length, dim=-1).to(x.dtype)


class SpeedChange(nn.Module):
    """Random speed change by up to ``max_change`` (relative), see :func:`speed_change`."""

    def __init__(self, max_change: float = 0.03) -> None:
        super().__init__()
        if not 0 <= max_change < 1:
            raise ValueError(f"max_change must be in [0, 1), got {max_change!r}")
        self.max_change = max_change

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return speed_change(x, self.max_change)


class SpectralTilt(nn.Module):
    """Random smooth spectral gain, ``max_db`` dB standard deviation (:func:`spectral_tilt`)."""

    def __init__(self, max_db: float = 3.0, n_knots: int = 8) -> None:
        super().__init__()
        check_non_negative("max_db", max_db)
        self.max_db = max_db
        self.n_knots = n_knots

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spectral_tilt(x, self.max_db, self.n_knots)


def physical_views(speed_change_fraction: float = 0.03, tilt_db: float = 3.0) -> list[nn.Module]:
    """The nuisances of a load change as augmentations: :class:`SpeedChange` and
    :class:`SpectralTilt`, each left out when its size is 0."""
    physical: list[nn.Module] = []
    if speed_change_fraction > 0:
        physical.append(SpeedChange(speed_change_fraction))
    if tilt_db > 0:
        physical.append(SpectralTilt(tilt_db))
    return physical


def signal_views_augment(
    length: int, speed_change_fraction: float = 0.03, tilt_db: float = 3.0
) -> RandomSignalAugment:
    """The views of the signal pipelines for windows of ``length`` samples: speed change and
    spectral tilt (:func:`physical_views`), then the generic catalogue (circular shift, jitter
    always; scaling, time and frequency masking with probability 0.5)."""
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an integer >= 2, got {length!r}")
    physical = physical_views(speed_change_fraction, tilt_db)
    generic = [TimeShift(length // 4, "circular"), Scaling(0.1), Jitter(0.05), TimeMasking(0.1)]
    generic.append(FrequencyMasking(0.1))
    return RandomSignalAugment(
        [*physical, *generic],
        probabilities=[1.0] * len(physical) + [1.0, 0.5, 1.0, 0.5, 0.5],
    )
