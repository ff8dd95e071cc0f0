"""Batch image augmentations on the model's device, in pure torch, as in SimCLR and SupContrast.

Every transform takes a whole batch ``[B, C, H, W]``, either ``uint8`` in 0..255 or floating point
in [0, 1] (float16 / bfloat16 are computed in float32), and returns normalised floating-point
images ``[B, C, size_h, size_w]`` on the input's device. The random augmentations draw all their
parameters for a batch in one call of a ``torch.Generator`` on the batch's device, run a fixed
set of whole-batch tensor operations (no Python loop over samples, the same operations for any
batch size) and never make the host wait for the device. Their constants are buffers: move the
module to the batch's device (``.to(device)``), as the training loop does, or every call copies
them there. (Float inputs are not range-checked: that would synchronise with the device.)

Randomness and checkpoints (:mod:`contrastlab.data.augment_random`): with ``seed=None`` every call
is seeded from torch's global generator, so ``torch.manual_seed`` makes a run reproducible and a
checkpoint of the global RNG state (the training loop saves every rank's) resumes it; with
``seed=int`` the module has its own stream, carried by ``state_dict()`` as plain ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._values import check_choice, check_int
from contrastlab.data.augment_random import seed_stream
from contrastlab.data.colour_jitter import (
    NEUTRAL_FACTORS,
    colour_jitter,
    jitter_factors_from_uniforms,
    jitter_ranges,
    random_grayscale,
)
from contrastlab.data.gaussian_blur import SIGMA_RANGE, blur_kernel_size, gaussian_blur
from contrastlab.data.image_crop import CROP_UNIFORMS, crop_boxes_from_uniforms, resample_boxes

SizeLike = int | tuple[int, int]
JITTER_ORDERS = ("batch", "sample")


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
        return images.to(torch.float32).div_(255.0)
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


@dataclass(frozen=True)
class AugmentParameters:
    """The random parameters of one call of :class:`ContrastiveImageAugment`; ``B`` samples.

    A field is None when its step is off (probability 0, no adjustment, ``crop=False``).

    Attributes:
        boxes: ``[B, 4]`` crop boxes ``(left, top, width, height)`` in input pixels.
        flip: ``[B]`` bool, mirrored left-right.
        jitter_applied: ``[B]`` bool, colour-jittered.
        jitter_factors: ``[B, n]`` factors of the module's ``adjustments`` (the neutral factor,
            1 or 0 for hue, where not jittered).
        jitter_order: a permutation of ``range(n)`` for the batch, or ``[B, n]`` int64 (one per
            sample), see ``jitter_order`` of :class:`ContrastiveImageAugment`.
        grayscale: ``[B]`` bool, turned to grayscale.
        blurred: ``[B]`` bool, blurred.
        blur_sigma: ``[B]`` the blur's sigma in pixels (drawn for every sample, used where
            ``blurred``).
    """

    boxes: torch.Tensor | None = None
    flip: torch.Tensor | None = None
    jitter_applied: torch.Tensor | None = None
    jitter_factors: torch.Tensor | None = None
    jitter_order: tuple[int, ...] | torch.Tensor | None = None
    grayscale: torch.Tensor | None = None
    blurred: torch.Tensor | None = None
    blur_sigma: torch.Tensor | None = None


class ContrastiveImageAugment(nn.Module):
    """The SimCLR / SupContrast training augmentation, drawn per sample, run on the whole batch.

    In order (torchvision's definitions; steps with probability 0, or all strengths 0, are left
    out):

    1. ``RandomResizedCrop(size, scale, ratio)`` and horizontal flip (``flip_p``) in one bilinear
       ``grid_sample`` (:func:`~contrastlab.data.image_crop.resample_boxes`; antialiased by
       supersampling when the input is larger than ``size``, see there). With ``crop=False``
       the batch must already be at ``size`` (e.g. cropped at full resolution by DataLoader
       workers): only the flip is applied, exactly.
    2. Colour jitter with probability ``jitter_p``: brightness, contrast, saturation
       (``[max(0, 1 - s), 1 + s]``) and hue (``[-hue, hue]``) factors, each clamped to [0, 1]
       (:mod:`~contrastlab.data.colour_jitter`), in a random order: ``jitter_order="batch"``
       (the default, as kornia) draws one order per call for the whole batch; ``"sample"`` one
       per sample, as torchvision's per-image ``ColorJitter``. Per sample, each of the n = 4
       stages runs every adjustment (neutral for the samples whose turn it is not): n times
       the jitter's work, the hue's HSV round trip included, and about 2.4 times the operations
       of a whole call of the default recipe (337 ATen calls against 140; ``benchmarks/augment.py``
       times both). Each image's order is uniformly random either way; "batch" only makes the
       orders within one batch equal, which is why it is the default.
    3. Grayscale (ITU-R 601-2 luma) with probability ``grayscale_p``.
    4. Gaussian blur with probability ``blur_p`` (kernel ~10% of the image, sigma in [0.1, 2];
       SimCLR on ImageNet; off by default as in SupContrast on CIFAR).
    5. Normalisation with ``mean`` / ``std``.

    The number of channels is ``len(mean)``. Saturation, hue and grayscale are defined for RGB
    only: for any other channel count (e.g. 1-channel digits) the colour jitter uses brightness
    and contrast only and ``saturation``, ``hue`` and ``grayscale_p`` are ignored.

    Randomness: all per-sample parameters come from one ``torch.rand`` of a generator on the
    batch's device, seeded per call (module docstring); :meth:`sample_parameters` draws them and
    :meth:`transform` applies given ones, so ``forward(x)`` is
    ``normalize(transform(x, sample_parameters(...)))``.

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
        *,
        crop: bool = True,
        jitter_order: str = "batch",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.size = _as_size(size)
        self.scale = _check_range("scale", scale, upper=1.0)
        self.ratio = _check_range("ratio", ratio, upper=None)
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
        if not isinstance(crop, bool):
            raise ValueError(f"crop must be True or False, got {crop!r}")
        check_choice("jitter_order", jitter_order, JITTER_ORDERS)
        if seed is not None:
            check_int("seed", seed, minimum=0)
        if blur_p > 0 and min(self.size) < 2:
            raise ValueError(f"blur needs an output of at least 2 x 2 pixels, got size {size!r}")
        self.normalize = ChannelNormalize(mean, std)
        self.in_channels = len(mean)
        rgb = self.in_channels == 3
        self.crop = crop
        self.flip_p = float(flip_p)
        self.jitter_p = float(jitter_p)
        self.grayscale_p = float(grayscale_p) if rgb else 0.0
        self.blur_p = float(blur_p)
        self.blur_kernel_size = blur_kernel_size(self.size)
        self.jitter_order = jitter_order
        ranges = jitter_ranges(brightness, contrast, saturation, hue, rgb) if jitter_p > 0 else {}
        self.adjustments = tuple(ranges)  # the colour-jitter adjustments that run, in ADJUST order
        for buffer, values in (
            ("jitter_low", [low for low, _ in ranges.values()]),
            ("jitter_high", [high for _, high in ranges.values()]),
            ("jitter_neutral", [NEUTRAL_FACTORS[name] for name in ranges]),
        ):
            self.register_buffer(
                buffer, torch.tensor(values, dtype=torch.float32), persistent=False
            )
        self.random = seed_stream(seed)
        self._draw_widths = self._uniform_columns()

    def _uniform_columns(self) -> dict[str, int]:
        """The columns of one call's ``[B, n]`` uniform draws, by parameter."""
        n_adjustments = len(self.adjustments)
        widths = {
            "boxes": CROP_UNIFORMS if self.crop else 0,
            "flip": int(self.flip_p > 0),
            "jitter_applied": int(n_adjustments > 0),
            "jitter_factors": n_adjustments,
            "jitter_order": n_adjustments if self.jitter_order == "sample" else 0,
            "grayscale": int(self.grayscale_p > 0),
            "blurred": int(self.blur_p > 0),
            "blur_sigma": int(self.blur_p > 0),
        }
        return {name: width for name, width in widths.items() if width > 0}

    def sample_parameters(
        self, batch: int, height: int, width: int, device: torch.device | str
    ) -> AugmentParameters:
        """Draw the parameters of one call for ``batch`` images of ``height x width`` pixels
        (advances the random stream as a ``forward`` call does)."""
        device = torch.device(device)
        generator, host_random = self.random.next_generators(device)
        uniforms = torch.rand(
            (batch, sum(self._draw_widths.values())), generator=generator, device=device
        )
        draws = dict(
            zip(
                self._draw_widths,
                uniforms.split(list(self._draw_widths.values()), dim=1),
                strict=True,
            )
        )
        found: dict[str, object] = {}
        if "boxes" in draws:
            found["boxes"] = crop_boxes_from_uniforms(
                draws["boxes"], height, width, self.scale, self.ratio
            )
        for name, probability in (
            ("flip", self.flip_p),
            ("jitter_applied", self.jitter_p),
            ("grayscale", self.grayscale_p),
            ("blurred", self.blur_p),
        ):
            if name in draws:
                found[name] = draws[name].squeeze(1) < probability
        if "jitter_factors" in draws:
            found["jitter_factors"] = jitter_factors_from_uniforms(
                draws["jitter_factors"],
                found["jitter_applied"],
                self.jitter_low.to(device),
                self.jitter_high.to(device),
                self.jitter_neutral.to(device),
            )
            found["jitter_order"] = (
                draws["jitter_order"].argsort(dim=1)
                if "jitter_order" in draws
                else tuple(host_random.sample(range(len(self.adjustments)), len(self.adjustments)))
            )
        if "blur_sigma" in draws:
            low, high = SIGMA_RANGE
            found["blur_sigma"] = draws["blur_sigma"].squeeze(1) * (high - low) + low
        return AugmentParameters(**found)

    def transform(self, images: torch.Tensor, parameters: AugmentParameters) -> torch.Tensor:
        """Apply ``parameters`` to ``images`` ``[B, C, H, W]`` in [0, 1] (floating point; ``H, W
        == size`` when ``crop=False``) -> ``[B, C, *size]`` in [0, 1], not normalised."""
        if parameters.boxes is not None:
            images = resample_boxes(images, parameters.boxes, parameters.flip, self.size)
        elif parameters.flip is not None:
            images = torch.where(parameters.flip.view(-1, 1, 1, 1), images.flip(-1), images)
        if parameters.jitter_factors is not None:
            images = colour_jitter(
                images, parameters.jitter_factors, self.adjustments, parameters.jitter_order
            )
        if parameters.grayscale is not None:
            images = random_grayscale(images, parameters.grayscale)
        if parameters.blurred is not None:
            images = gaussian_blur(
                images, parameters.blur_sigma, parameters.blurred, self.blur_kernel_size
            )
        return images

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, C, H, W] uint8 or float in [0, 1] -> augmented, normalised [B, C, *size]."""
        images = to_unit_float(x, self.in_channels, name=type(self).__name__ + " input")
        if not self.crop and tuple(images.shape[-2:]) != self.size:
            raise ValueError(
                f"{type(self).__name__} with crop=False takes images already at size "
                f"{self.size}, got shape {tuple(images.shape)}"
            )
        if images.dtype in (torch.float16, torch.bfloat16):
            images = images.float()
        # Under autocast the blur's convolutions would run in half precision.
        with torch.autocast(images.device.type, enabled=False):
            batch, _, height, width = images.shape
            parameters = self.sample_parameters(batch, height, width, images.device)
            return self.normalize(self.transform(images, parameters))

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, crop={self.crop}, scale={self.scale}, ratio={self.ratio}, "
            f"flip_p={self.flip_p}, adjustments={self.adjustments}, jitter_p={self.jitter_p}, "
            f"jitter_order={self.jitter_order!r}, grayscale_p={self.grayscale_p}, "
            f"blur_p={self.blur_p}"
        )


class SupervisedImageAugment(ContrastiveImageAugment):
    """The light augmentation of SupContrast's cross-entropy baseline (``main_ce``): random resized
    crop (``scale``), horizontal flip, normalisation; no colour changes. ``crop`` and ``seed`` as
    in :class:`ContrastiveImageAugment`.

    Shapes: ``forward(x [B, C, H, W]) -> [B, C, size_h, size_w]`` float.
    """

    def __init__(
        self,
        size: SizeLike,
        mean: Sequence[float],
        std: Sequence[float],
        scale: tuple[float, float] = (0.2, 1.0),
        flip_p: float = 0.5,
        *,
        crop: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            size,
            mean,
            std,
            scale=scale,
            flip_p=flip_p,
            jitter_p=0.0,
            grayscale_p=0.0,
            crop=crop,
            seed=seed,
        )


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
