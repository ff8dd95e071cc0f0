"""Multi-view batches: V independent random augmentations of every sample (SimCLR, SupContrast)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from contrastlab._checks import check_int


class MultiView(nn.Module):
    """Apply ``transform`` ``n_views`` times to a batch and stack the results on dimension 1.

    Each call of ``transform`` must draw fresh random parameters (kornia augmentations do, per
    sample), so the V views of a sample are independent draws. When ``transform`` is an
    ``nn.Module`` it is registered as a sub-module and follows ``.to(device)``.

    Shapes: ``forward(x [B, ...]) -> [B, V, ...']`` where ``...'`` is the transform's output shape
    per sample, e.g. ``[B, C, H, W] -> [B, V, C, size, size]`` — the ``[bsz, n_views, ...]`` layout
    ``SupConLoss`` expects after the encoder.
    """

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor], n_views: int = 2) -> None:
        super().__init__()
        if not callable(transform):
            raise ValueError(f"transform must be callable, got {type(transform).__name__}")
        check_int("n_views", n_views)
        self.transform = transform
        self.n_views = n_views

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

    def extra_repr(self) -> str:
        return f"n_views={self.n_views}"
