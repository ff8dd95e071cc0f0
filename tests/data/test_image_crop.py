"""Random resized crop + flip: torchvision's box rule against a slow loop, and the resampling
against cutting the box out and resizing it with ``F.interpolate``."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from contrastlab.data.image_crop import (
    CROP_TRIES,
    CROP_UNIFORMS,
    crop_boxes_from_uniforms,
    fallback_box,
    resample_boxes,
    supersampling_factors,
)


def reference_box(
    draws: list[float],
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params``, one sample, fed with ``draws`` (22 floats
    in [0, 1)) instead of its random calls; ``(left, top, width, height)``."""
    area = height * width
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for attempt in range(CROP_TRIES):
        target_area = area * (scale[0] + (scale[1] - scale[0]) * draws[attempt])
        aspect_ratio = math.exp(log_low + (log_high - log_low) * draws[CROP_TRIES + attempt])
        w = round(math.sqrt(target_area * aspect_ratio))
        h = round(math.sqrt(target_area / aspect_ratio))
        if 0 < w <= width and 0 < h <= height:
            left = int(draws[-2] * (width - w + 1))  # randint(0, width - w + 1)
            top = int(draws[-1] * (height - h + 1))
            return left, top, w, h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        w, h = round(height * max(ratio)), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


CASES = [
    (32, 32, (0.2, 1.0), (3 / 4, 4 / 3)),  # SupContrast on CIFAR
    (24, 40, (0.08, 1.0), (3 / 4, 4 / 3)),  # ImageNet's scale, a wide image: tries often fail
    (5, 7, (0.5, 1.0), (0.2, 5.0)),
]


@pytest.mark.parametrize(("height", "width", "scale", "ratio"), CASES)
def test_boxes_equal_the_loop_fed_the_same_draws(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float]
) -> None:
    generator = torch.Generator().manual_seed(height * width)
    uniforms = torch.rand(500, CROP_UNIFORMS, generator=generator, dtype=torch.float64)
    boxes = crop_boxes_from_uniforms(uniforms, height, width, scale, ratio)
    expected = [reference_box(row, height, width, scale, ratio) for row in uniforms.tolist()]
    assert boxes.dtype == torch.float64
    assert boxes.tolist() == [list(map(float, box)) for box in expected]


@pytest.mark.parametrize(
    ("height", "width", "ratio"),
    [(10, 40, (3 / 4, 4 / 3)), (40, 10, (3 / 4, 4 / 3)), (20, 20, (3 / 4, 4 / 3)), (9, 12, (2, 3))],
)
def test_no_fitting_candidate_falls_back_to_the_central_crop(
    height: int, width: int, ratio: tuple[float, float]
) -> None:
    # Area draws of 1 and a ratio at the range's far end never fit unless the image has it.
    uniforms = torch.full((3, CROP_UNIFORMS), 0.999999, dtype=torch.float64)
    uniforms[:, CROP_TRIES : 2 * CROP_TRIES] = 0.0 if width >= height else 0.999999
    boxes = crop_boxes_from_uniforms(uniforms, height, width, (1.0, 1.0), ratio)
    expected = reference_box(uniforms[0].tolist(), height, width, (1.0, 1.0), ratio)
    assert fallback_box(height, width, ratio) == expected
    assert boxes.tolist() == [list(map(float, expected))] * 3


def test_float32_boxes_stay_inside_the_image() -> None:
    # Draws just below 1: the position must not round up to one past the last offset.
    uniforms = torch.full((4, CROP_UNIFORMS), 1.0 - 2.0**-24)
    uniforms[1] = 0.0
    uniforms[2:] = torch.rand(2, CROP_UNIFORMS)
    for height, width in ((1000, 999), (32, 32)):
        boxes = crop_boxes_from_uniforms(uniforms, height, width, (0.01, 1.0), (0.5, 2.0))
        left, top, box_width, box_height = boxes.unbind(dim=1)
        assert (left >= 0).all() and (top >= 0).all()
        assert (left + box_width <= width).all() and (top + box_height <= height).all()
        assert (box_width >= 1).all() and (box_height >= 1).all()


def _reference_crop(
    images: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Cut each box out, resize it (bilinear, no antialiasing), then mirror: image by image."""
    out = []
    for image, (left, top, width, height), mirrored in zip(
        images, boxes.long().tolist(), flip, strict=True
    ):
        piece = image[None, :, top : top + height, left : left + width]
        resized = F.interpolate(piece, size=size, mode="bilinear", align_corners=False)[0]
        out.append(resized.flip(-1) if mirrored else resized)
    return torch.stack(out)


def test_resampling_equals_cut_out_and_resize() -> None:
    generator = torch.Generator().manual_seed(5)
    images = torch.rand(64, 3, 20, 24, generator=generator, dtype=torch.float64)
    uniforms = torch.rand(64, CROP_UNIFORMS, generator=generator, dtype=torch.float64)
    boxes = crop_boxes_from_uniforms(uniforms, 20, 24, (0.1, 1.0), (0.5, 2.0))
    flip = torch.rand(64, generator=generator) < 0.5
    size = (28, 24)  # at least the input: every box is enlarged, one sample per output pixel
    assert supersampling_factors((20, 24), size) == (1, 1)
    out = resample_boxes(images, boxes, flip, size)
    torch.testing.assert_close(out, _reference_crop(images, boxes, flip, size))


def test_whole_image_box_is_the_identity_and_a_flip_reverses_columns() -> None:
    images = torch.rand(4, 3, 32, 16)
    whole = torch.tensor([[0.0, 0.0, 16.0, 32.0]]).expand(4, 4)
    flip = torch.tensor([False, True, False, True])
    out = resample_boxes(images, whole, flip, (32, 16))
    torch.testing.assert_close(out[~flip], images[~flip], rtol=0, atol=0)
    torch.testing.assert_close(out[flip], images[flip].flip(-1), rtol=0, atol=0)
    # Sizes that are not powers of two: exact up to float rounding of the coordinates.
    odd = torch.rand(2, 1, 24, 24)
    box = torch.tensor([[0.0, 0.0, 24.0, 24.0]]).expand(2, 4)
    torch.testing.assert_close(resample_boxes(odd, box, None, (24, 24)), odd)


def test_a_box_never_blends_in_pixels_outside_it() -> None:
    # Left half red-ish, right half blue-ish: the left-half box, enlarged, is one colour (up to
    # the rounding of bilinear weights; one pixel of the other half would add ~0.01 or more).
    image = torch.zeros(1, 3, 16, 16)
    image[:, :, :, :8] = torch.tensor([0.9, 0.2, 0.1]).view(1, 3, 1, 1)
    image[:, :, :, 8:] = torch.tensor([0.1, 0.3, 0.8]).view(1, 3, 1, 1)
    for box in ([0.0, 0.0, 8.0, 16.0], [2.0, 4.0, 6.0, 5.0]):
        out = resample_boxes(image, torch.tensor([box]), torch.tensor([True]), (32, 32))
        torch.testing.assert_close(out, image[:, :, :1, :1].expand(1, 3, 32, 32), rtol=0, atol=1e-6)


def test_shrinking_is_antialiased_by_supersampling() -> None:
    # A one-pixel checkerboard shrunk 4x: each output pixel averages its 4 x 4 footprint.
    rows = torch.arange(64).view(-1, 1)
    checkerboard = ((rows + rows.T) % 2).float().view(1, 1, 64, 64)
    assert supersampling_factors((64, 64), (16, 16)) == (4, 4)
    box = torch.tensor([[0.0, 0.0, 64.0, 64.0]])
    out = resample_boxes(checkerboard, box, None, (16, 16))
    torch.testing.assert_close(out, torch.full((1, 1, 16, 16), 0.5))
    # A 60 x 60 box of a 64 x 64 image still averages about half (no aliasing to 0 or 1).
    part = resample_boxes(checkerboard, torch.tensor([[1.0, 3.0, 60.0, 60.0]]), None, (16, 16))
    assert (part - 0.5).abs().max() < 0.1


def test_supersampling_factors() -> None:
    assert supersampling_factors((32, 32), (32, 32)) == (1, 1)
    assert supersampling_factors((32, 32), (64, 48)) == (1, 1)
    assert supersampling_factors((256, 300), (224, 224)) == (2, 2)
    assert supersampling_factors((100, 30), (10, 10)) == (10, 3)


def test_crop_distribution_matches_torchvision_rule() -> None:
    """Area fraction and log aspect ratio of float32 boxes drawn on the device against the loop
    fed by Python's own random numbers (two-sample Kolmogorov-Smirnov)."""
    from scipy.stats import ks_2samp

    height, width, scale, ratio = 24, 40, (0.08, 1.0), (3 / 4, 4 / 3)
    uniforms = torch.rand(20000, CROP_UNIFORMS, generator=torch.Generator().manual_seed(1))
    boxes = crop_boxes_from_uniforms(uniforms, height, width, scale, ratio).double()
    python_random = random.Random(2)
    reference = torch.tensor(
        [
            reference_box(
                [python_random.random() for _ in range(CROP_UNIFORMS)], height, width, scale, ratio
            )
            for _ in range(20000)
        ],
        dtype=torch.float64,
    )
    for name, statistic in (
        ("area fraction", lambda b: b[:, 2] * b[:, 3] / (height * width)),
        ("log aspect ratio", lambda b: torch.log(b[:, 2] / b[:, 3])),
        ("left / free columns", lambda b: b[:, 0] / (width - b[:, 2] + 1)),
    ):
        result = ks_2samp(statistic(boxes).numpy(), statistic(reference).numpy())
        assert result.pvalue > 1e-3, (name, result)
