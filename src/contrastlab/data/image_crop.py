"""Random resized crop and horizontal flip of a whole batch: torchvision's rule, vectorised.

:func:`crop_boxes_from_uniforms` turns uniform draws into one crop box per sample with
``RandomResizedCrop.get_params``'s rule; :func:`resample_boxes` cuts every box out, mirrors it
where asked and resizes it to the output size in one ``grid_sample``. Neither has a Python loop
over samples or reads a tensor's value on the host, and both run the same operations for any batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CROP_TRIES = 10
"""Candidate boxes per sample, as torchvision."""
CROP_UNIFORMS = 2 * CROP_TRIES + 2
"""Uniform draws per sample that :func:`crop_boxes_from_uniforms` uses."""


def fallback_box(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """torchvision's box when no candidate fits: the central crop with the image's aspect ratio
    clamped to ``ratio``. Returns ``(left, top, crop_width, crop_height)`` in pixels."""
    image_ratio = width / height
    crop_width, crop_height = width, height
    if image_ratio < min(ratio):
        crop_height = round(width / min(ratio))
    elif image_ratio > max(ratio):
        crop_width = round(height * max(ratio))
    return (width - crop_width) // 2, (height - crop_height) // 2, crop_width, crop_height


def _pair(first: float, second: float, like: torch.Tensor) -> torch.Tensor:
    """The 2-vector ``(first, second)`` on ``like``'s device, made there (no host-to-device copy,
    which would wait for the device); ``linspace`` with 2 steps returns both ends exactly."""
    return torch.linspace(first, second, 2, device=like.device, dtype=like.dtype)


def crop_boxes_from_uniforms(
    uniforms: torch.Tensor,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> torch.Tensor:
    """``RandomResizedCrop.get_params`` (torchvision) for every sample of a batch at once.

    Per sample, for ``CROP_TRIES`` candidates ``t`` (columns ``t`` and ``CROP_TRIES + t`` of
    ``uniforms``)::

        area  = H W (scale_lo + (scale_hi - scale_lo) u_t)
        r     = exp(log ratio_lo + (log ratio_hi - log ratio_lo) v_t)
        w, h  = round(sqrt(area r)), round(sqrt(area / r))       (round half to even, as Python)

    the first candidate with ``1 <= w <= W`` and ``1 <= h <= H`` is kept, placed at
    ``left = floor(x (W - w + 1))``, ``top = floor(y (H - h + 1))`` (uniform integers, from the last
    two columns ``x, y``); when none fits, :func:`fallback_box` (the central crop).

    Args:
        uniforms: ``[B, CROP_UNIFORMS]`` draws in [0, 1).
        height, width: the input images' size ``H, W`` in pixels.
        scale: range of the crop's area as a fraction of the image's.
        ratio: range of the crop's aspect ratio ``w / h`` (sampled uniformly in log space).

    Returns:
        ``[B, 4]`` boxes ``(left, top, width, height)`` in pixels (integers, in ``uniforms``'s
        dtype).
    """
    area_draws, log_ratio_draws, position_draws = uniforms.split([CROP_TRIES, CROP_TRIES, 2], dim=1)
    image_area = height * width
    area = area_draws * (image_area * (scale[1] - scale[0])) + image_area * scale[0]
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    log_ratio = log_ratio_draws * (log_high - log_low) + log_low
    ratio_and_inverse = torch.exp(torch.stack((log_ratio, -log_ratio), dim=-1))  # [B, T, 2]
    sizes = torch.sqrt(area.unsqueeze(-1) * ratio_and_inverse).round()  # [B, T, 2]: (w, h)
    limits = _pair(width, height, uniforms)
    fits = ((sizes >= 1) & (sizes <= limits)).all(dim=-1)  # [B, T]
    # argmax returns the first maximum: the first candidate that fits (0 when none does).
    first = fits.to(torch.uint8).argmax(dim=1).view(-1, 1, 1).expand(-1, 1, 2)
    found = fits.any(dim=1, keepdim=True)  # [B, 1]
    left, top, fallback_width, fallback_height = fallback_box(height, width, ratio)
    sizes = torch.where(
        found, sizes.gather(1, first).squeeze(1), _pair(fallback_width, fallback_height, uniforms)
    )
    free = limits - sizes  # the largest offset; offsets are uniform in 0..free
    # min(): a draw just below 1 times (free + 1) can round up to free + 1 in float32.
    offsets = torch.minimum(torch.floor(position_draws * (free + 1)), free)
    offsets = torch.where(found, offsets, _pair(left, top, uniforms))
    return torch.cat((offsets, sizes), dim=1)


def supersampling_factors(
    input_size: tuple[int, int], output_size: tuple[int, int]
) -> tuple[int, int]:
    """``(k_h, k_w) = (ceil(H / out_h), ceil(W / out_w))``: the samples per output pixel and axis
    that keep the spacing of the samples at most one input pixel, for any box inside the image
    (a box is at most the image). 1 when the output is at least as large as the input."""
    return tuple(
        math.ceil(n_in / n_out) for n_in, n_out in zip(input_size, output_size, strict=True)
    )


def _sample_coordinates(
    start: torch.Tensor,
    length: torch.Tensor,
    n_samples: int,
    extent: int,
    mirror: torch.Tensor | None,
) -> torch.Tensor:
    """Normalised ``grid_sample`` coordinates (``align_corners=False``) of ``n_samples`` evenly
    spaced sample centres across each box ``[start, start + length)`` of one axis (pixels, [B]),
    in reverse order where ``mirror`` ([B] bool) is True; ``[B, n_samples]``.

    In pixels, sample ``j`` is at ``start + (j + 1/2) length / n`` (mirrored: ``start + length -
    ...``), clamped to the centres of the box's first and last pixels: as torchvision, which
    resizes the cut-out box, the samples never blend in pixels outside it. When ``length == n``
    every sample is exactly a pixel centre.
    """
    centres = torch.linspace(
        0.5, n_samples - 0.5, n_samples, device=start.device, dtype=start.dtype
    )
    step = (length / n_samples).unsqueeze(1)
    end = start + length
    first = start.unsqueeze(1)
    if mirror is not None:
        first = torch.where(mirror.unsqueeze(1), end.unsqueeze(1), first)
        step = torch.where(mirror.unsqueeze(1), -step, step)
    pixels = torch.addcmul(first, step, centres)
    pixels = torch.clamp(pixels, min=(start + 0.5).unsqueeze(1), max=(end - 0.5).unsqueeze(1))
    return pixels * (2.0 / extent) - 1.0


def resample_boxes(
    images: torch.Tensor,
    boxes: torch.Tensor,
    flip: torch.Tensor | None,
    size: tuple[int, int],
) -> torch.Tensor:
    """Crop each box out of its image, mirror it left-right where ``flip`` and resize it to
    ``size``: one bilinear ``grid_sample`` for the batch (a flip is a negated x step).

    Antialiasing: with ``(k_h, k_w) = supersampling_factors((H, W), size)`` above 1 (the input is
    larger than the output, so a box may be shrunk), each output pixel is the mean of a
    ``k_h x k_w`` grid of bilinear samples spread over its footprint (``avg_pool2d``), a box
    filter of about the output pixel's size, so shrunk boxes do not alias. The factors depend on
    the shapes only, not on the boxes: no value is read on the host. For CIFAR's 32 -> 32 they
    are 1 (one sample per output pixel).

    Args:
        images: ``[B, C, H, W]`` floating point.
        boxes: ``[B, 4]`` ``(left, top, width, height)`` in pixels, e.g. from
            :func:`crop_boxes_from_uniforms`.
        flip: ``[B]`` bool, or None for no flips.
        size: the output's ``(height, width)``.

    Returns:
        ``[B, C, size[0], size[1]]`` in ``images``'s dtype.
    """
    batch, _, height, width = images.shape
    factor_h, factor_w = supersampling_factors((height, width), size)
    boxes = boxes.to(images.dtype)
    left, top, box_width, box_height = boxes.unbind(dim=1)
    xs = _sample_coordinates(left, box_width, size[1] * factor_w, width, flip)
    ys = _sample_coordinates(top, box_height, size[0] * factor_h, height, None)
    grid_shape = (batch, ys.shape[1], xs.shape[1])
    grid = torch.stack(
        (xs.unsqueeze(1).expand(grid_shape), ys.unsqueeze(2).expand(grid_shape)), dim=-1
    )
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if factor_h > 1 or factor_w > 1:
        out = F.avg_pool2d(out, (factor_h, factor_w))
    return out
