"""Random augmentations of 1-D signal batches ``x: [B, C, L]`` for contrastive views.

Each augmentation is a pure function (``jitter``, ``scale``, ``time_shift``, ...) drawing fresh
randomness per sample from torch's generator, wrapped by a thin ``nn.Module`` that holds its
strength. Random numbers are created on ``x.device``; outputs keep ``x``'s shape, dtype and device.
:class:`RandomSignalAugment` applies a list of them, each with a probability, per sample.

Two views for a contrastive loss: ``contrastlab.data.views.MultiView(augment, n_views=2)``.
The catalogue follows TS-TCC (Eldele et al., IJCAI 2021) and "An empirical survey of data
augmentation for time series classification" (Iwana & Uchida, 2021): jitter, scaling,
permutation, time / frequency masking and shifts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from contrastlab._checks import check_choice, check_float_tensor, check_int, check_non_negative


def _check_batch(x: torch.Tensor) -> None:
    check_float_tensor("x", x, ndim=3)


def _check_fraction(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def _random_spans(
    batch: int, length: int, max_width: int, device: torch.device, n_spans: int
) -> torch.Tensor:
    """Boolean ``[B, length]`` mask of ``n_spans`` random spans per row, each of width drawn
    uniformly in ``[0, max_width]`` at a uniform position."""
    positions = torch.arange(length, device=device)
    mask = torch.zeros(batch, length, dtype=torch.bool, device=device)
    for _ in range(n_spans):
        width = torch.randint(0, max_width + 1, (batch, 1), device=device)
        start = (torch.rand(batch, 1, device=device) * (length - width + 1)).long()
        mask |= (positions >= start) & (positions < start + width)
    return mask


def jitter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x + sigma * n`` with ``n ~ N(0, 1)`` i.i.d. per sample, channel and time step."""
    _check_batch(x)
    check_non_negative("sigma", sigma)
    return x + sigma * torch.randn_like(x)


def scale(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x * s`` with one factor ``s ~ N(1, sigma^2)`` per sample and channel."""
    _check_batch(x)
    check_non_negative("sigma", sigma)
    factors = 1 + sigma * torch.randn(x.shape[0], x.shape[1], 1, device=x.device, dtype=x.dtype)
    return x * factors


def time_shift(x: torch.Tensor, max_shift: int, mode: str = "circular") -> torch.Tensor:
    """Shift every sample by ``s ~ U{-max_shift, ..., max_shift}`` steps, keeping length ``L``:
    ``y[t] = x[(t - s) mod L]`` (``mode='circular'``) or ``x[t - s]`` with zeros where ``t - s``
    falls outside ``[0, L)`` (``mode='pad'``: a crop of the signal, zero-padded back to ``L``)."""
    _check_batch(x)
    check_choice("mode", mode, ("circular", "pad"))
    check_int("max_shift", max_shift, minimum=0)
    batch, channels, length = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (batch, 1), device=x.device)
    source = torch.arange(length, device=x.device) - shifts  # [B, L]
    inside = (source >= 0) & (source < length)
    source = source % length
    shifted = torch.gather(x, 2, source[:, None, :].expand(batch, channels, length))
    if mode == "pad":
        shifted = shifted * inside[:, None, :].to(x.dtype)
    return shifted


def random_crop(x: torch.Tensor, crop_length: int) -> torch.Tensor:
    """A random contiguous crop ``[B, C, crop_length]`` per sample (uniform start)."""
    _check_batch(x)
    length = x.shape[-1]
    check_int("crop_length", crop_length, maximum=length)
    starts = torch.randint(0, length - crop_length + 1, (x.shape[0], 1), device=x.device)
    index = starts + torch.arange(crop_length, device=x.device)
    return torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1))


def time_mask(x: torch.Tensor, max_fraction: float, n_masks: int = 1) -> torch.Tensor:
    """Zero ``n_masks`` random spans per sample (all channels), each up to ``max_fraction * L``."""
    _check_batch(x)
    _check_fraction("max_fraction", max_fraction)
    batch, _, length = x.shape
    mask = _random_spans(batch, length, int(max_fraction * length), x.device, n_masks)
    return x.masked_fill(mask[:, None, :], 0.0)


def frequency_mask(x: torch.Tensor, max_fraction: float, n_masks: int = 1) -> torch.Tensor:
    """Zero ``n_masks`` random bands of the spectrum per sample (all channels), each up to
    ``max_fraction`` of the ``L//2 + 1`` rfft bins: ``irfft(rfft(x) * keep, n=L)``."""
    _check_batch(x)
    _check_fraction("max_fraction", max_fraction)
    batch, _, length = x.shape
    n_bins = length // 2 + 1
    mask = _random_spans(batch, n_bins, int(max_fraction * n_bins), x.device, n_masks)
    # FFTs run in float32 at least (half-precision FFTs are not available on every device).
    spectrum = torch.fft.rfft(x.to(torch.promote_types(x.dtype, torch.float32)), dim=-1)
    spectrum = spectrum.masked_fill(mask[:, None, :], 0.0)
    return torch.fft.irfft(spectrum, n=length, dim=-1).to(x.dtype)


def permute_segments(x: torch.Tensor, max_segments: int) -> torch.Tensor:
    """Cut each sample at random points into ``k ~ U{2, ..., max_segments}`` segments and
    concatenate them in a random order (all channels alike); length is kept.

    Vectorised: with ``s(t)`` the segment of step ``t`` and ``r(s)`` its new rank, the output takes
    the steps in increasing order of ``r(s(t)) * L + t``.
    """
    _check_batch(x)
    batch, channels, length = x.shape
    check_int("max_segments", max_segments, minimum=2)
    if max_segments > length:
        raise ValueError(f"max_segments ({max_segments}) exceeds the signal length ({length})")
    device = x.device
    n_segments = torch.randint(2, max_segments + 1, (batch, 1), device=device)
    # Distinct cut points in [1, L-1]; the first k-1 of a random order are used.
    cuts = torch.rand(batch, length - 1, device=device).argsort(dim=1)[:, : max_segments - 1] + 1
    used = torch.arange(max_segments - 1, device=device) < (n_segments - 1)
    positions = torch.arange(length, device=device)
    segment = ((cuts[:, :, None] <= positions) & used[:, :, None]).sum(dim=1)  # [B, L]
    order = torch.rand(batch, max_segments, device=device)
    order = order.masked_fill(torch.arange(max_segments, device=device) >= n_segments, 2.0)
    rank = order.argsort(dim=1).argsort(dim=1)  # rank[b, s] = new position of segment s
    key = torch.gather(rank, 1, segment) * length + positions
    source = key.argsort(dim=1)
    return torch.gather(x, 2, source[:, None, :].expand(batch, channels, length))


class SignalAugmentation(nn.Module):
    """The thin ``nn.Module`` shell of a pure augmentation: it holds the keyword options of
    ``function`` as attributes and ``forward(x)`` returns ``function(x, **options)``.

    A subclass names its pure function (``function = staticmethod(jitter)``) and validates its
    options in ``__init__`` before passing them on.
    """

    function: ClassVar[Callable[..., torch.Tensor]]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self._option_names = tuple(options)
        for name, value in options.items():
            setattr(self, name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x, **{name: getattr(self, name) for name in self._option_names})


class Jitter(SignalAugmentation):
    """Additive Gaussian noise of std ``sigma`` (see :func:`jitter`)."""

    function = staticmethod(jitter)

    def __init__(self, sigma: float = 0.05) -> None:
        check_non_negative("sigma", sigma)
        super().__init__(sigma=sigma)


class Scaling(SignalAugmentation):
    """Per-sample, per-channel gain ``~ N(1, sigma^2)`` (see :func:`scale`)."""

    function = staticmethod(scale)

    def __init__(self, sigma: float = 0.1) -> None:
        check_non_negative("sigma", sigma)
        super().__init__(sigma=sigma)


class TimeShift(SignalAugmentation):
    """Random shift by up to ``max_shift`` steps, circular or zero-padded (:func:`time_shift`)."""

    function = staticmethod(time_shift)

    def __init__(self, max_shift: int, mode: str = "circular") -> None:
        check_choice("mode", mode, ("circular", "pad"))
        super().__init__(max_shift=max_shift, mode=mode)


class RandomCrop(SignalAugmentation):
    """Random crop to ``crop_length`` steps (see :func:`random_crop`); shortens the input."""

    function = staticmethod(random_crop)

    def __init__(self, crop_length: int) -> None:
        super().__init__(crop_length=crop_length)


class _SpanMasking(SignalAugmentation):
    """Zeroes ``n_masks`` random spans of up to ``max_fraction`` of the axis ``function`` masks."""

    def __init__(self, max_fraction: float = 0.1, n_masks: int = 1) -> None:
        _check_fraction("max_fraction", max_fraction)
        super().__init__(max_fraction=max_fraction, n_masks=n_masks)


class TimeMasking(_SpanMasking):
    """Zero ``n_masks`` random time spans of up to ``max_fraction`` of the length."""

    function = staticmethod(time_mask)


class FrequencyMasking(_SpanMasking):
    """Zero ``n_masks`` random frequency bands of up to ``max_fraction`` of the bins."""

    function = staticmethod(frequency_mask)


class Permutation(SignalAugmentation):
    """Shuffle 2 to ``max_segments`` random segments (see :func:`permute_segments`)."""

    function = staticmethod(permute_segments)

    def __init__(self, max_segments: int = 5) -> None:
        check_int("max_segments", max_segments, minimum=2)
        super().__init__(max_segments=max_segments)


class RandomSignalAugment(nn.Module):
    """Apply ``augmentations`` in order, each to a random subset of the batch.

    Augmentation ``i`` replaces sample ``b`` with probability ``probabilities[i]`` (one number for
    all is allowed): ``x <- where(u_b < p_i, aug_i(x), x)``. Augmentations that change the length
    (``RandomCrop``) must have probability 1.
    """

    def __init__(
        self, augmentations: Sequence[nn.Module], probabilities: float | Sequence[float] = 1.0
    ) -> None:
        super().__init__()
        self.augmentations = nn.ModuleList(augmentations)
        if isinstance(probabilities, (int, float)):
            probabilities = [float(probabilities)] * len(self.augmentations)
        probabilities = [float(p) for p in probabilities]
        if len(probabilities) != len(self.augmentations):
            count = len(self.augmentations)
            raise ValueError(f"got {len(probabilities)} probabilities for {count} augmentations")
        for p in probabilities:
            _check_fraction("probability", p)
        self.probabilities = probabilities

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x)
        for augmentation, probability in zip(self.augmentations, self.probabilities, strict=True):
            if probability == 0:
                continue
            augmented = augmentation(x)
            if probability == 1:
                x = augmented
                continue
            if augmented.shape != x.shape:
                raise ValueError(
                    f"{type(augmentation).__name__} changes the shape {tuple(x.shape)} -> "
                    f"{tuple(augmented.shape)}; give it probability 1"
                )
            chosen = torch.rand(x.shape[0], 1, 1, device=x.device) < probability
            x = torch.where(chosen, augmented, x)
        return x


def default_signal_augment(length: int) -> RandomSignalAugment:
    """A reasonable default for standardised vibration windows of ``length`` steps: circular
    shift and jitter always; scaling, time masking and frequency masking with probability 0.5."""
    return RandomSignalAugment(
        [
            TimeShift(length // 4, "circular"),
            Scaling(0.1),
            Jitter(0.05),
            TimeMasking(0.1),
            FrequencyMasking(0.1),
        ],
        probabilities=[1.0, 0.5, 1.0, 0.5, 0.5],
    )
