"""Batch image augmentations on the model's device (kornia), as in SimCLR and SupContrast.

Every transform takes a whole batch ``[B, C, H, W]``, either ``uint8`` in 0..255 or floating point
in [0, 1], and returns normalised floating-point images ``[B, C, size_h, size_w]`` on the input's
device.
Random parameters are drawn per sample from torch's global generator, so ``torch.manual_seed``
makes a call reproducible. (Float inputs are not range-checked: that would synchronise with the
device on every batch.)
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn

SizeLike = int | tuple[int, int]


def _as_size(size: SizeLike) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in pair
    ):
        raise ValueError(f"size must be a positive int or a (height, width) pair, got {size!r}")
    return pair[0], pair[1]


def _check_probability(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _check_strength(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and value >= 0.0):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def _check_range(name: str, bounds: Sequence[float], upper: float | None) -> tuple[float, float]:
    if len(bounds) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if not (0.0 < low <= high and (upper is None or high <= upper)):
        limit = f" <= {upper}" if upper is not None else ""
        raise ValueError(f"{name} must satisfy 0 < low <= high{limit}, got {tuple(bounds)!r}")
    return low, high


def to_unit_float(images: torch.Tensor, in_channels: int, name: str = "images") -> torch.Tensor:
    """Validate a batch ``[B, in_channels, H, W]`` and return it as floats in [0, 1].

    ``uint8`` images are divided by 255 (to float32); floating-point images are returned as is.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name} must be [B, C, H, W], got shape {tuple(images.shape)}")
    if images.shape[1] != in_channels:
        raise ValueError(
            f"{name} must have {in_channels} channel(s) (len(mean)), "
            f"got shape {tuple(images.shape)}"
        )
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    if not images.is_floating_point():
        raise ValueError(
            f"{name} must be uint8 (0..255) or floating point in [0, 1], got dtype {images.dtype}"
        )
    return images


class ChannelNormalize(nn.Module):
    """``(x - mean[c]) / std[c]`` per channel; ``[B, C, H, W] -> [B, C, H, W]``.

    ``mean`` and ``std`` are (non-persistent) buffers, so they move with ``.to(device)`` and stay
    out of checkpoints.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) == 0 or len(mean) != len(std):
            raise ValueError(
                f"mean and std must be per-channel lists of the same non-zero length, "
                f"got {len(mean)} and {len(std)} values"
            )
        if any(not (float(s) > 0.0) for s in std):
            raise ValueError(f"std values must be > 0, got {list(std)}")
        self.register_buffer(
            "mean", torch.tensor([float(m) for m in mean]).view(-1, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor([float(s) for s in std]).view(-1, 1, 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # .to(x): the statistics follow the input's device and dtype, wherever the module lives.
        return (x - self.mean.to(x)) / self.std.to(x)


class ContrastiveImageAugment(nn.Module):
    """The SimCLR / SupContrast training augmentation, applied per sample over a batch.

    In order: ``RandomResizedCrop(size, scale, ratio)``, horizontal flip (``flip_p``), colour
    jitter (``brightness, contrast, saturation, hue`` with probability ``jitter_p``), grayscale
    (``grayscale_p``), optional Gaussian blur (``blur_p``, kernel ~10% of the image, sigma in
    [0.1, 2]; SimCLR uses it on ImageNet, SupContrast not on CIFAR), then normalisation with
    ``mean`` / ``std``. Steps with probability 0 (or all strengths 0) are left out.

    The number of channels is ``len(mean)``. Saturation, hue and grayscale are defined for RGB
    only: for any other channel count (e.g. 1-channel digits) the colour jitter uses brightness
    and contrast only and ``saturation``, ``hue`` and ``grayscale_p`` are ignored.

    Shapes: ``forward(x [B, C, H, W] uint8 or float in [0, 1]) -> [B, C, size_h, size_w]`` float,
    on ``x``'s device.
    """

    def __init__(
        self,
        size: SizeLike,
        mean: Sequence[float],
        std: Sequence[float],
        scale: tuple[float, float] = (0.2, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        flip_p: float = 0.5,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.0,
    ) -> None:
        super().__init__()
        self.size = _as_size(size)
        scale = _check_range("scale", scale, upper=1.0)
        ratio = _check_range("ratio", ratio, upper=None)
        for name, value in (
            ("flip_p", flip_p),
            ("jitter_p", jitter_p),
            ("grayscale_p", grayscale_p),
            ("blur_p", blur_p),
        ):
            _check_probability(name, value)
        for name, value in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            _check_strength(name, value)
        if not (isinstance(hue, (int, float)) and 0.0 <= hue <= 0.5):
            raise ValueError(f"hue must be in [0, 0.5], got {hue!r}")
        self.normalize = ChannelNormalize(mean, std)
        self.in_channels = len(mean)
        rgb = self.in_channels == 3
        if not rgb:
            saturation, hue, grayscale_p = 0.0, 0.0, 0.0

        steps: list[nn.Module] = [K.RandomResizedCrop(self.size, scale=scale, ratio=ratio)]
        if flip_p > 0:
            steps.append(K.RandomHorizontalFlip(p=flip_p))
        if jitter_p > 0 and max(brightness, contrast, saturation, hue) > 0:
            steps.append(K.ColorJitter(brightness, contrast, saturation, hue, p=jitter_p))
        if grayscale_p > 0:
            steps.append(K.RandomGrayscale(p=grayscale_p))
        if blur_p > 0:
            kernel = max(3, (min(self.size) // 10) | 1)  # odd, about 10% of the image side
            steps.append(K.RandomGaussianBlur((kernel, kernel), sigma=(0.1, 2.0), p=blur_p))
        self.augment = nn.Sequential(*steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, C, H, W] uint8 or float in [0, 1] -> augmented, normalised [B, C, *size]."""
        images = to_unit_float(x, self.in_channels, name=type(self).__name__ + " input")
        return self.normalize(self.augment(images))


class SupervisedImageAugment(ContrastiveImageAugment):
    """The light augmentation of SupContrast's cross-entropy baseline (``main_ce``): random resized
    crop (``scale``), horizontal flip, normalisation; no colour changes.

    Shapes: ``forward(x [B, C, H, W]) -> [B, C, size_h, size_w]`` float.
    """

    def __init__(
        self,
        size: SizeLike,
        mean: Sequence[float],
        std: Sequence[float],
        scale: tuple[float, float] = (0.2, 1.0),
        flip_p: float = 0.5,
    ) -> None:
        super().__init__(size, mean, std, scale=scale, flip_p=flip_p, jitter_p=0.0, grayscale_p=0.0)


class EvalImageTransform(nn.Module):
    """Deterministic evaluation transform: bilinear resize to ``size`` (only when the input has
    another size; antialiased when shrinking) and normalisation with ``mean`` / ``std``.

    Shapes: ``forward(x [B, C, H, W] uint8 or float in [0, 1]) -> [B, C, size_h, size_w]`` float.
    """

    def __init__(self, size: SizeLike, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.size = _as_size(size)
        self.normalize = ChannelNormalize(mean, std)
        self.in_channels = len(mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, C, H, W] -> normalised [B, C, *size]."""
        images = to_unit_float(x, self.in_channels, name=type(self).__name__ + " input")
        if tuple(images.shape[-2:]) != self.size:
            images = F.interpolate(
                images, size=self.size, mode="bilinear", align_corners=False, antialias=True
            )
        return self.normalize(images)
