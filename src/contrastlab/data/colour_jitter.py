"""Colour jitter and grayscale for a whole batch, one factor per sample (torchvision's definitions).

Images are ``[B, C, H, W]`` floating point in [0, 1]; a factor is a ``[B]`` tensor. As torchvision
(``transforms.v2.functional``), every adjustment clamps its result to [0, 1]:

* brightness ``f``: ``clamp(f x)``;
* contrast ``f``: ``clamp(f x + (1 - f) m)``, ``m`` the mean of the image's luma (per image);
* saturation ``f``: ``clamp(f x + (1 - f) Y)``, ``Y`` the luma of each pixel (RGB only);
* hue ``s`` in [-0.5, 0.5]: rotate the hue in HSV by ``s`` turns, keeping saturation and value
  (RGB only; the result stays in [0, 1]).

Luma is ITU-R 601-2, ``Y = 0.299 R + 0.587 G + 0.114 B`` (PIL's ``convert("L")``, which
SupContrast's PIL pipeline applies; torchvision's tensor kernel rounds the red weight to 0.2989).
A one-channel image is its own luma.

A factor of 1 (a shift of 0 for hue) leaves an image unchanged: brightness, contrast and
saturation exactly, hue up to float rounding. That is how samples that are not jittered, or
whose turn it is not, pass through the batched operations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
ADJUSTMENTS = ("brightness", "contrast", "saturation", "hue")
"""The adjustments, in torchvision's order of ``ColorJitter``'s arguments."""
NEUTRAL_FACTORS = {"brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
RGB_ONLY = ("saturation", "hue")


def _per_sample(factor: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``[B]`` -> ``[B, 1, 1, 1]`` in ``images``'s dtype (``lerp`` takes one dtype)."""
    return factor.to(images.dtype).view(-1, 1, 1, 1)


def luma(images: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` -> ``[B, 1, H, W]`` ITU-R 601-2 luma; a ``[B, 1, H, W]`` batch is returned
    as is."""
    if images.shape[1] == 1:
        return images
    red, green, blue = images.split(1, dim=1)
    return (
        (red * LUMA_WEIGHTS[0]).add_(green, alpha=LUMA_WEIGHTS[1]).add_(blue, alpha=LUMA_WEIGHTS[2])
    )


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``clamp(f x, 0, 1)``; ``factor``: [B] >= 0."""
    return (images * _per_sample(factor, images)).clamp_(0.0, 1.0)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``clamp(f x + (1 - f) mean(luma(x)), 0, 1)`` with the mean over each image."""
    mean = luma(images).mean(dim=(1, 2, 3), keepdim=True)
    return torch.lerp(mean, images, _per_sample(factor, images)).clamp_(0.0, 1.0)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``clamp(f x + (1 - f) luma(x), 0, 1)`` per pixel; RGB ``[B, 3, H, W]``."""
    return torch.lerp(luma(images), images, _per_sample(factor, images)).clamp_(0.0, 1.0)


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of RGB ``[B, 3, H, W]`` images by ``shift`` ([B], in turns).

    With ``v = max(R, G, B)``, chroma ``c = v - min(R, G, B)`` and the hue in sixths of a turn
    ``h6 = 2 i + (x_{i+1} - x_{i+2}) / c`` (``i`` the index of the first maximal channel, channels
    taken cyclically; 0 for grey pixels), channel ``n`` of the result is
    ``v - c clamp(min(k, 4 - k), 0, 1)`` with ``k = (h6 + 6 shift + (5, 3, 1)_n) mod 6``: the
    closed form of torchvision's HSV -> RGB table, without building HSV images.
    """
    value, max_channel = images.max(dim=1, keepdim=True)  # the first maximum, as torchvision
    chroma = value - images.amin(dim=1, keepdim=True)
    next_minus_previous = images.roll(-1, dims=1) - images.roll(1, dims=1)
    sector_start = max_channel.to(images.dtype) * 2.0
    # For grey pixels both the difference and the chroma are 0: the clamp avoids 0 / 0.
    hue_sixths = torch.addcdiv(
        sector_start,
        next_minus_previous.gather(1, max_channel),
        chroma.clamp_min(torch.finfo(images.dtype).tiny),
    )
    channel_offsets = torch.linspace(5.0, 1.0, 3, device=images.device, dtype=images.dtype)
    k = (
        hue_sixths + _per_sample(shift, images) * 6.0 + channel_offsets.view(1, 3, 1, 1)
    ).remainder_(6.0)
    weight = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return torch.addcmul(value, chroma, weight, value=-1.0)


ADJUST: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "brightness": adjust_brightness,
    "contrast": adjust_contrast,
    "saturation": adjust_saturation,
    "hue": adjust_hue,
}


def jitter_ranges(
    brightness: float, contrast: float, saturation: float, hue: float, rgb: bool
) -> dict[str, tuple[float, float]]:
    """torchvision's ``ColorJitter`` ranges of the adjustments that change something:
    ``[max(0, 1 - s), 1 + s]`` for brightness, contrast and saturation of strength ``s > 0``,
    ``[-hue, hue]`` for ``hue > 0``. Saturation and hue only when ``rgb``."""
    strengths = {"brightness": brightness, "contrast": contrast, "saturation": saturation}
    ranges = {
        name: (max(0.0, 1.0 - strength), 1.0 + strength)
        for name, strength in strengths.items()
        if strength > 0
    }
    if hue > 0:
        ranges["hue"] = (-hue, hue)
    return {name: bounds for name, bounds in ranges.items() if rgb or name not in RGB_ONLY}


def jitter_factors_from_uniforms(
    uniforms: torch.Tensor,
    applied: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    neutral: torch.Tensor,
) -> torch.Tensor:
    """Factors ``low + (high - low) u`` where ``applied`` ([B] bool), ``neutral`` elsewhere.

    Args:
        uniforms: ``[B, n]`` draws in [0, 1), one column per adjustment.
        applied: ``[B]`` bool, the samples that are jittered.
        low, high, neutral: ``[n]`` per adjustment.

    Returns:
        ``[B, n]``.
    """
    return torch.where(applied.unsqueeze(1), torch.lerp(low, high, uniforms), neutral)


def colour_jitter(
    images: torch.Tensor,
    factors: torch.Tensor,
    adjustments: Sequence[str],
    order: Sequence[int] | torch.Tensor,
) -> torch.Tensor:
    """Apply ``adjustments`` (names of :data:`ADJUST`) with per-sample ``factors`` in ``order``.

    Args:
        images: ``[B, C, H, W]`` in [0, 1].
        factors: ``[B, n]``, column ``k`` for ``adjustments[k]``.
        adjustments: the ``n`` adjustments.
        order: either one order for the whole batch (a permutation of ``range(n)``, on the host),
            or ``[B, n]`` int, row ``b`` the permutation of sample ``b``. Per sample, every stage
            runs all ``n`` adjustments, each with the neutral factor for the samples whose turn
            it is not: ``n`` times the work of one order for the batch.

    Returns:
        ``[B, C, H, W]`` in [0, 1].
    """
    if not isinstance(order, torch.Tensor):
        for k in order:
            images = ADJUST[adjustments[k]](images, factors[:, k])
        return images
    for stage in range(len(adjustments)):
        for k, name in enumerate(adjustments):
            turn = order[:, stage] == k
            factor = torch.where(turn, factors[:, k], NEUTRAL_FACTORS[name])
            images = ADJUST[name](images, factor)
    return images


def random_grayscale(images: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Replace every channel by the luma where ``selected`` ([B] bool); ``[B, C, H, W]``."""
    return torch.where(selected.view(-1, 1, 1, 1), luma(images).expand_as(images), images)
