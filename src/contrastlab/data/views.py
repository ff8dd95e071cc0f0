"""Multi-view batches: V independent random augmentations of every sample (SimCLR, SupContrast)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from contrastlab._checks import check_int


class _ViewTransform(nn.Module):
    """A ``transform`` and a number of views (what :class:`MultiView` and :class:`GivenViews`
    share)."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor], n_views: int = 2) -> None:
        super().__init__()
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {type(transform).__name__}")
        check_int("n_views", n_views)
        self.transform = transform
        self.n_views = n_views

    def extra_repr(self) -> str:
        return f"n_views={self.n_views}"


class MultiView(_ViewTransform):
    """Apply ``transform`` ``n_views`` times to a batch and stack the results on dimension 1.

    Each call of ``transform`` must draw fresh random parameters (the batched augmentations do, per
    sample), so the V views of a sample are independent draws. When ``transform`` is an
    ``nn.Module`` it is registered as a sub-module and follows ``.to(device)``.

    Shapes: ``forward(x [B, ...]) -> [B, V, ...']`` where ``...'`` is the transform's output shape
    per sample, e.g. ``[B, C, H, W] -> [B, V, C, size, size]`` — the ``[bsz, n_views, ...]`` layout
    ``SupConLoss`` expects after the encoder.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, ...] -> [B, n_views, ...'] (V independent draws of the transform)."""
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise ValueError(f"MultiView expects a batch tensor [B, ...], got {x!r:.80}")
        views = [self.transform(x) for _ in range(self.n_views)]
        for view in views:
            if view.shape[0] != x.shape[0]:
                raise ValueError(
                    f"transform changed the batch size from {x.shape[0]} to {view.shape[0]}"
                )
        return torch.stack(views, dim=1)


class GivenViews(_ViewTransform):
    """Apply ``transform`` to each of the ``n_views`` views a batch already holds.

    For batches whose V views were made before the model's device, e.g. random resized crops cut
    at full resolution by DataLoader workers (:mod:`contrastlab.data.image_stream`); ``transform``
    then does the rest of the augmentation (``ContrastiveImageAugment(..., crop=False)``). It is
    called once on all ``B * V`` images, whose random parameters are drawn per image, so the views
    of a sample stay independent draws and the number of operations does not grow with V.

    Shapes: ``forward(x [B, V, ...]) -> [B, V, ...']``, as :class:`MultiView`'s output.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, n_views, ...] -> [B, n_views, ...'] (the transform of every view)."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[1] != self.n_views:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"GivenViews expects a batch of {self.n_views} views [B, {self.n_views}, ...], "
                f"got {shape}"
            )
        batch = x.shape[0]
        flat = x.flatten(0, 1)
        out = self.transform(flat)
        if out.shape[0] != flat.shape[0]:
            raise ValueError(
                f"transform changed the batch size from {flat.shape[0]} to {out.shape[0]}"
            )
        return out.unflatten(0, (batch, self.n_views))


def view_maker(
    transform: Callable[[torch.Tensor], torch.Tensor], n_views: int, given_views: bool
) -> MultiView | GivenViews:
    """:class:`GivenViews` when the batches hold their views already (``given_views``), else
    :class:`MultiView` (V draws of ``transform`` per sample)."""
    return GivenViews(transform, n_views) if given_views else MultiView(transform, n_views)
