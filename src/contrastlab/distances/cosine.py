"""Cosine similarity and cosine distance.

``cos(x, y) = x.y / (||x|| ||y||)`` in [-1, 1], larger is closer (SimCLR's similarity);
``1 - cos(x, y)`` in [0, 2], smaller is closer, for the margin losses that need a dissimilarity.
Rows are L2-normalised with ``torch.nn.functional.normalize`` (eps 1e-12), so a zero row has
similarity 0 to everything rather than NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastlab.distances.base import Distance, check_paired_inputs, check_pairwise_inputs


def cosine_similarity_pairwise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``cos(x_i, y_j)``; ``x`` [N, D], ``y`` [M, D] -> [N, M]."""
    check_pairwise_inputs(x, y)
    return F.normalize(x, dim=1) @ F.normalize(y, dim=1).T


def cosine_similarity_paired(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``cos(x_i, y_i)``; ``x``, ``y`` [N, D] -> [N]."""
    check_paired_inputs(x, y)
    return (F.normalize(x, dim=1) * F.normalize(y, dim=1)).sum(dim=1)


class CosineSimilarity(Distance):
    """``cos(x, y)`` (larger is closer)."""

    larger_is_closer = True

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cosine_similarity_pairwise(x, y)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cosine_similarity_paired(x, y)


class CosineDistance(Distance):
    """``1 - cos(x, y)`` in [0, 2] (smaller is closer)."""

    larger_is_closer = False

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1.0 - cosine_similarity_pairwise(x, y)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1.0 - cosine_similarity_paired(x, y)
