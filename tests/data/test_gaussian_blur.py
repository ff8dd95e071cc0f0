"""Per-sample Gaussian blur against a slow per-image 2-D convolution."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from contrastlab.data.gaussian_blur import blur_kernel_size, gaussian_blur, gaussian_kernels


def _reference_blur(image: torch.Tensor, sigma: float, kernel_size: int) -> torch.Tensor:
    """torchvision's definition for one image [C, H, W]: the outer product of the 1-D kernel,
    reflect padding, in float64."""
    radius = kernel_size // 2
    taps = [math.exp(-0.5 * (x / sigma) ** 2) for x in range(-radius, radius + 1)]
    kernel_1d = torch.tensor(taps, dtype=torch.float64) / sum(taps)
    kernel = torch.outer(kernel_1d, kernel_1d)
    padded = F.pad(image.double()[None], (radius,) * 4, mode="reflect")[0]
    out = torch.zeros_like(image, dtype=torch.float64)
    for dy in range(kernel_size):
        for dx in range(kernel_size):
            out += kernel[dy, dx] * padded[:, dy : dy + image.shape[1], dx : dx + image.shape[2]]
    return out


def test_blur_matches_the_per_image_convolution() -> None:
    images = torch.rand(5, 3, 12, 9, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0, 1.3])
    blurred = torch.tensor([True, True, True, True, False])
    kernel_size = 5
    out = gaussian_blur(images, sigma, blurred, kernel_size)
    for index in range(4):
        expected = _reference_blur(images[index], float(sigma[index]), kernel_size)
        torch.testing.assert_close(out[index].double(), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(out[4], images[4], rtol=0, atol=0)


def test_kernels_are_normalised_gaussians() -> None:
    kernels = gaussian_kernels(torch.tensor([0.5, 2.0]), 7)
    torch.testing.assert_close(kernels.sum(dim=1), torch.ones(2))
    torch.testing.assert_close(kernels, kernels.flip(1))
    assert (kernels[0, 3] > kernels[1, 3]) and (kernels[0, 0] < kernels[1, 0])


def test_kernel_size_is_about_a_tenth_of_the_image() -> None:
    assert blur_kernel_size((32, 32)) == 3
    assert blur_kernel_size((224, 224)) == 23
    assert blur_kernel_size((96, 160)) == 9
