"""Batched colour jitter and grayscale against slow per-pixel references (colorsys for the hue)."""

from __future__ import annotations

import colorsys

import pytest
import torch

from contrastlab.data.colour_jitter import (
    ADJUSTMENTS,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    colour_jitter,
    jitter_factors_from_uniforms,
    jitter_ranges,
    luma,
    random_grayscale,
)


def _images(batch: int = 6, side: int = 5, seed: int = 0) -> torch.Tensor:
    images = torch.rand(batch, 3, side, side, generator=torch.Generator().manual_seed(seed))
    images[0] = 0.5  # grey: no hue, zero chroma
    images[1, :, 0, 0] = torch.tensor([0.7, 0.7, 0.2])  # ties between maximal channels
    images[1, :, 0, 1] = torch.tensor([0.3, 0.9, 0.9])
    return images


def _luma_reference(image: torch.Tensor) -> torch.Tensor:
    red, green, blue = image.double()
    return 0.299 * red + 0.587 * green + 0.114 * blue


def _blend_reference(image: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * image.double() + (1.0 - factor) * other).clamp(0.0, 1.0)


def reference_adjust(name: str, image: torch.Tensor, factor: float) -> torch.Tensor:
    """One image [3, H, W], torchvision's definitions, in float64 (hue with colorsys)."""
    if name == "brightness":
        return (factor * image.double()).clamp(0.0, 1.0)
    if name == "contrast":
        return _blend_reference(image, _luma_reference(image).mean(), factor)
    if name == "saturation":
        return _blend_reference(image, _luma_reference(image), factor)
    pixels = []
    for red, green, blue in image.double().flatten(1).T.tolist():
        hue, saturation, value = colorsys.rgb_to_hsv(red, green, blue)
        pixels.append(colorsys.hsv_to_rgb((hue + factor) % 1.0, saturation, value))
    return torch.tensor(pixels, dtype=torch.float64).T.reshape(image.shape)


ADJUST_FUNCTIONS = {
    "brightness": adjust_brightness,
    "contrast": adjust_contrast,
    "saturation": adjust_saturation,
    "hue": adjust_hue,
}


@pytest.mark.parametrize("name", ADJUSTMENTS)
def test_each_adjustment_matches_its_per_image_reference(name: str) -> None:
    images = _images()
    factors = (
        torch.tensor([-0.5, -0.3, -0.1, 0.0, 0.25, 0.5])
        if name == "hue"
        else torch.tensor([0.0, 0.3, 0.9, 1.0, 1.4, 2.5])
    )
    out = ADJUST_FUNCTIONS[name](images, factors)
    expected = torch.stack(
        [reference_adjust(name, image, float(f)) for image, f in zip(images, factors, strict=True)]
    )
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=2e-6)
    assert out.dtype == images.dtype


def test_neutral_factors_change_nothing() -> None:
    images = _images()
    ones = torch.ones(len(images))
    for adjust in (adjust_brightness, adjust_contrast, adjust_saturation):
        torch.testing.assert_close(adjust(images, ones), images, rtol=0, atol=0)
    torch.testing.assert_close(adjust_hue(images, torch.zeros(len(images))), images)


def test_brightness_scales_the_pixels_by_the_factor() -> None:
    images = _images() * 0.5
    out = adjust_brightness(images, torch.full((len(images),), 1.5))
    torch.testing.assert_close(out, images * 1.5, rtol=0, atol=0)


def test_single_channel_contrast_uses_the_image_mean() -> None:
    images = torch.rand(3, 1, 4, 4)
    out = adjust_contrast(images, torch.tensor([0.5, 1.0, 1.5]))
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    expected = (torch.tensor([0.5, 1.0, 1.5]).view(3, 1, 1, 1) * (images - mean) + mean).clamp(0, 1)
    torch.testing.assert_close(out, expected)


def test_luma_and_grayscale() -> None:
    images = _images()
    gray = luma(images)
    torch.testing.assert_close(
        gray[:, 0].double(), torch.stack([_luma_reference(image) for image in images])
    )
    selected = torch.tensor([True, False, True, False, False, True])
    out = random_grayscale(images, selected)
    torch.testing.assert_close(out[selected], gray[selected].expand(-1, 3, -1, -1))
    torch.testing.assert_close(out[~selected], images[~selected], rtol=0, atol=0)
    one_channel = torch.rand(2, 1, 3, 3)
    assert luma(one_channel) is one_channel


def test_ranges_follow_torchvision() -> None:
    assert jitter_ranges(0.4, 0.4, 0.4, 0.1, rgb=True) == {
        "brightness": (0.6, 1.4),
        "contrast": (0.6, 1.4),
        "saturation": (0.6, 1.4),
        "hue": (-0.1, 0.1),
    }
    assert jitter_ranges(1.5, 0.0, 0.8, 0.0, rgb=True) == {
        "brightness": (0.0, 2.5),
        "saturation": (0.19999999999999996, 1.8),
    }
    assert list(jitter_ranges(0.4, 0.4, 0.4, 0.1, rgb=False)) == ["brightness", "contrast"]


def test_factors_from_uniforms() -> None:
    uniforms = torch.tensor([[0.0, 0.5], [0.25, 0.75], [0.9, 0.1]])
    applied = torch.tensor([True, False, True])
    low, high, neutral = (
        torch.tensor([0.6, -0.1]),
        torch.tensor([1.4, 0.1]),
        torch.tensor([1.0, 0.0]),
    )
    factors = jitter_factors_from_uniforms(uniforms, applied, low, high, neutral)
    expected = torch.tensor([[0.6, 0.0], [1.0, 0.0], [0.6 + 0.8 * 0.9, -0.1 + 0.2 * 0.1]])
    torch.testing.assert_close(factors, expected)


def _reference_jitter(
    images: torch.Tensor, factors: torch.Tensor, orders: list[list[int]]
) -> torch.Tensor:
    out = []
    for image, row, order in zip(images, factors.tolist(), orders, strict=True):
        for k in order:
            image = reference_adjust(ADJUSTMENTS[k], image, row[k]).float()
        out.append(image)
    return torch.stack(out)


def test_one_order_for_the_batch_and_one_per_sample() -> None:
    images = _images(batch=8, side=4, seed=3)
    generator = torch.Generator().manual_seed(4)
    uniforms = torch.rand(8, 4, generator=generator)
    factors = torch.lerp(
        torch.tensor([0.6, 0.6, 0.6, -0.1]), torch.tensor([1.4, 1.4, 1.4, 0.1]), uniforms
    )
    batch_order = (2, 0, 3, 1)
    out = colour_jitter(images, factors, ADJUSTMENTS, batch_order)
    torch.testing.assert_close(
        out, _reference_jitter(images, factors, [list(batch_order)] * 8), atol=1e-5, rtol=0
    )
    per_sample = torch.rand(8, 4, generator=generator).argsort(dim=1)
    out = colour_jitter(images, factors, ADJUSTMENTS, per_sample)
    torch.testing.assert_close(
        out, _reference_jitter(images, factors, per_sample.tolist()), atol=1e-5, rtol=0
    )
    # The order matters: the same factors in another order give other images.
    assert not torch.allclose(out, colour_jitter(images, factors, ADJUSTMENTS, (3, 2, 1, 0)))


def test_a_subset_of_adjustments() -> None:
    images = torch.rand(4, 1, 3, 3)
    factors = torch.tensor([[0.5, 1.5], [1.2, 0.7], [1.0, 1.0], [2.0, 0.1]])
    out = colour_jitter(images, factors, ("brightness", "contrast"), torch.tensor([[1, 0]] * 4))
    expected = adjust_brightness(adjust_contrast(images, factors[:, 1]), factors[:, 0])
    torch.testing.assert_close(out, expected)
