"""Dot-product similarity ``x.y`` (larger is closer): cosine similarity without normalisation.

Like the Euclidean distances, it runs in at least float32 and outside autocast: a dot product of
vectors with norms above ~256 overflows float16 (65504), so half-precision inputs give float32.
"""

from __future__ import annotations

import torch

from contrastlab.distances.base import (
    Distance,
    check_paired_inputs,
    check_pairwise_inputs,
    promote_half,
)


def dot_product_pairwise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x_i . y_j``; ``x`` [N, D], ``y`` [M, D] -> [N, M]."""
    check_pairwise_inputs(x, y)
    with torch.autocast(device_type=x.device.type, enabled=False):
        return promote_half(x) @ promote_half(y).T


def dot_product_paired(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x_i . y_i``; ``x``, ``y`` [N, D] -> [N]."""
    check_paired_inputs(x, y)
    with torch.autocast(device_type=x.device.type, enabled=False):
        return (promote_half(x) * promote_half(y)).sum(dim=1)


class DotProductSimilarity(Distance):
    """``x . y`` (larger is closer)."""

    larger_is_closer = True

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return dot_product_pairwise(x, y)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return dot_product_paired(x, y)
