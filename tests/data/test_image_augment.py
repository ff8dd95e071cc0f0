"""Batch image augmentations: shapes, randomness, determinism, crop geometry, normalisation."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch

from contrastlab.data.image_augment import (
    ContrastiveImageAugment,
    EvalImageTransform,
    SupervisedImageAugment,
)

RGB_MEAN, RGB_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def _images(batch: int = 4, channels: int = 3, side: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(123)
    return torch.randint(
        0, 256, (batch, channels, side, side), dtype=torch.uint8, generator=generator
    )


def _geometry_only(
    size: int, scale: tuple[float, float], flip_p: float = 0.0
) -> ContrastiveImageAugment:
    return ContrastiveImageAugment(
        size, mean=[0.0], std=[1.0], scale=scale, ratio=(1.0, 1.0), flip_p=flip_p, jitter_p=0.0
    )


def test_output_shape_dtype_and_channels() -> None:
    augment = ContrastiveImageAugment(24, RGB_MEAN, RGB_STD)
    out = augment(_images())
    assert out.shape == (4, 3, 24, 24) and out.dtype == torch.float32
    gray = ContrastiveImageAugment((20, 16), [0.5], [0.25])
    assert gray(_images(channels=1)).shape == (4, 1, 20, 16)
    float_in = _images().float() / 255
    assert augment(float_in).shape == (4, 3, 24, 24)
    assert augment(float_in.double()).dtype == torch.float64


def test_two_calls_differ_and_a_seed_reproduces_a_call() -> None:
    augment = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD)
    x = _images()
    torch.manual_seed(0)
    first = augment(x)
    second = augment(x)
    assert not torch.equal(first, second)
    torch.manual_seed(0)
    torch.testing.assert_close(augment(x), first, rtol=0, atol=0)
    # Samples of one batch get different parameters too.
    same = _images(batch=1).expand(4, -1, -1, -1)
    out = augment(same)
    assert not torch.equal(out[0], out[1])


def test_crop_covers_exactly_the_requested_area() -> None:
    # A horizontal ramp 0..1: the value range of the crop measures its width in source pixels.
    side = 32
    ramp = torch.linspace(0, 1, side).view(1, 1, 1, side).expand(1, 1, side, side)
    out = _geometry_only(side, scale=(0.25, 0.25))(ramp.expand(16, 1, side, side))
    width_px = (out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3))) * (side - 1) + 1
    torch.testing.assert_close(width_px, torch.full((16,), side / 2))
    torch.manual_seed(1)
    wide = _geometry_only(side, scale=(0.2, 1.0))(ramp.expand(256, 1, side, side))
    width_px = (wide.amax(dim=(1, 2, 3)) - wide.amin(dim=(1, 2, 3))) * (side - 1) + 1
    assert width_px.min() >= 0.2**0.5 * side - 1  # square crops: side >= sqrt(0.2) * 32
    assert width_px.max() <= side + 1e-4
    assert width_px.max() - width_px.min() > side / 3  # the scale really varies


def test_full_crop_with_certain_flip_mirrors_the_image() -> None:
    x = torch.rand(3, 1, 16, 16)
    out = _geometry_only(16, scale=(1.0, 1.0), flip_p=1.0)(x)
    torch.testing.assert_close(out, x.flip(-1))


def test_grayscale_makes_rgb_channels_equal() -> None:
    augment = ContrastiveImageAugment(
        16, [0.0] * 3, [1.0] * 3, scale=(1.0, 1.0), jitter_p=0.0, grayscale_p=1.0
    )
    out = augment(_images(side=16))
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 1], out[:, 2])


def test_single_channel_uses_brightness_and_contrast_only() -> None:
    augment = ContrastiveImageAugment(16, [0.5], [0.5], jitter_p=1.0, grayscale_p=0.5)
    kinds = [type(step) for step in augment.augment]
    assert K.RandomGrayscale not in kinds
    (jitter,) = [step for step in augment.augment if isinstance(step, K.ColorJitter)]
    assert (jitter.saturation, jitter.hue) == (0.0, 0.0)
    assert (jitter.brightness, jitter.contrast) == (0.4, 0.4)
    out = augment(_images(channels=1))
    assert out.shape == (4, 1, 16, 16) and torch.isfinite(out).all()
    rgb_kinds = [type(step) for step in ContrastiveImageAugment(16, RGB_MEAN, RGB_STD).augment]
    assert rgb_kinds == [
        K.RandomResizedCrop,
        K.RandomHorizontalFlip,
        K.ColorJitter,
        K.RandomGrayscale,
    ]


def test_supervised_augment_and_blur_option() -> None:
    kinds = [type(step) for step in SupervisedImageAugment(16, RGB_MEAN, RGB_STD).augment]
    assert kinds == [K.RandomResizedCrop, K.RandomHorizontalFlip]
    blurred = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, blur_p=0.5)
    assert isinstance(blurred.augment[-1], K.RandomGaussianBlur)
    assert blurred(_images()).shape == (4, 3, 32, 32)


def test_eval_transform_normalises_to_zero_mean_unit_std() -> None:
    x = _images(batch=64)
    unit = x.float() / 255
    mean = unit.mean(dim=(0, 2, 3)).tolist()
    std = unit.std(dim=(0, 2, 3), unbiased=False).tolist()
    transform = EvalImageTransform(32, mean, std)
    out = transform(x)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(transform(x), out, rtol=0, atol=0)  # deterministic
    expected = (unit - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(out, expected)


def test_eval_transform_resizes_only_when_needed() -> None:
    constant = torch.full((2, 1, 8, 8), 0.75)
    out = EvalImageTransform(32, [0.25], [0.5])(constant)
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, torch.ones(2, 1, 32, 32))
    shrunk = EvalImageTransform((4, 6), [0.0], [1.0])(torch.rand(2, 1, 16, 16))
    assert shrunk.shape == (2, 1, 4, 6)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(3, 32, 32, dtype=torch.uint8), r"\[B, C, H, W\]"),
        (torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "3 channel"),
        (torch.zeros(2, 3, 32, 32, dtype=torch.int32), "uint8"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_bad_images_are_rejected(images: object, message: str) -> None:
    for transform in (
        ContrastiveImageAugment(8, RGB_MEAN, RGB_STD),
        EvalImageTransform(8, RGB_MEAN, RGB_STD),
    ):
        with pytest.raises(ValueError, match=message):
            transform(images)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"scale": (0.5, 1.5)}, "scale"),
        ({"scale": (0.8, 0.5)}, "scale"),
        ({"ratio": (0.0, 1.0)}, "ratio"),
        ({"flip_p": 1.5}, "flip_p"),
        ({"jitter_p": -0.1}, "jitter_p"),
        ({"brightness": -1.0}, "brightness"),
        ({"hue": 0.7}, "hue"),
        ({"size": 0}, "size"),
        ({"size": (8, 8, 8)}, "size"),
        ({"std": (0.2, 0.0, 0.2)}, "std"),
        ({"std": (0.2, 0.2)}, "same non-zero length"),
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"size": 8, "mean": RGB_MEAN, "std": RGB_STD, **kwargs}
    with pytest.raises(ValueError, match=message):
        ContrastiveImageAugment(**arguments)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_follows_the_input() -> None:
    device = torch.device("cuda")
    x = _images().to(device)
    for transform in (
        ContrastiveImageAugment(24, RGB_MEAN, RGB_STD),
        EvalImageTransform(24, RGB_MEAN, RGB_STD),
    ):
        out = transform.to(device)(x)
        assert out.device.type == "cuda" and out.shape == (4, 3, 24, 24)
