"""Gaussian blur of a whole batch with one sigma per sample (SimCLR's ImageNet augmentation).

As torchvision's ``gaussian_blur``: a separable kernel of ``kernel_size`` taps at offsets
``x = -r..r`` (``r = (kernel_size - 1) / 2``), ``g(x) = exp(-x^2 / (2 sigma^2)) / sum``, and
reflect padding. All samples are blurred by two grouped convolutions (one group per image and
channel); a sample that is not blurred gets sigma ``NO_BLUR_SIGMA``, whose kernel is exactly
``(0, .., 0, 1, 0, .., 0)`` (``exp(-x^2 / (2 sigma^2))`` underflows to 0 for ``|x| >= 1``), which
leaves it exactly as it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SIGMA_RANGE = (0.1, 2.0)
"""SimCLR's range of sigma, in pixels."""
NO_BLUR_SIGMA = 0.01


def blur_kernel_size(size: tuple[int, int]) -> int:
    """An odd kernel of about 10% of the image's smaller side, at least 3 taps (SimCLR)."""
    return max(3, (min(size) // 10) | 1)


def gaussian_kernels(sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``[B]`` sigmas (> 0) -> ``[B, kernel_size]`` normalised 1-D Gaussian kernels."""
    radius = (kernel_size - 1) / 2
    offsets = torch.linspace(-radius, radius, kernel_size, device=sigma.device, dtype=sigma.dtype)
    weights = torch.exp(-0.5 * (offsets / sigma.unsqueeze(1)).square())
    return weights / weights.sum(dim=1, keepdim=True)


def gaussian_blur(
    images: torch.Tensor, sigma: torch.Tensor, blurred: torch.Tensor, kernel_size: int
) -> torch.Tensor:
    """Blur ``images`` ``[B, C, H, W]`` with ``sigma`` ([B] pixels) where ``blurred`` ([B] bool).

    ``kernel_size`` must be odd and its radius smaller than ``H`` and ``W`` (reflect padding).
    Returns ``[B, C, H, W]``.
    """
    batch, channels, height, width = images.shape
    sigma = torch.where(blurred, sigma.to(images.dtype), NO_BLUR_SIGMA)
    kernels = gaussian_kernels(sigma, kernel_size)
    groups = batch * channels
    per_group = kernels.unsqueeze(1).expand(batch, channels, kernel_size).reshape(groups, 1, 1, -1)
    radius = kernel_size // 2
    flat = images.reshape(1, groups, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), per_group, groups=groups)
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="reflect"),
        per_group.transpose(2, 3),
        groups=groups,
    )
    return flat.view(batch, channels, height, width)
