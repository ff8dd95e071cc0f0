"""Euclidean and squared Euclidean distances.

``d(x, y) = ||x - y||_2`` and ``d^2(x, y) = sum_k (x_k - y_k)^2``; smaller is closer. The pairwise
form uses the expansion ``|x|^2 + |y|^2 - 2 x.y`` (one matrix product instead of an [N, M, D]
difference tensor), after centring both inputs on their joint mean to limit cancellation, clamped
at 0 against rounding; it runs in at least float32 and outside autocast. The square root has a zero
gradient at zero distance (``safe_sqrt``), so identical points never give NaN.
"""

from __future__ import annotations

import torch

from contrastlab.distances.base import (
    Distance,
    check_paired_inputs,
    check_pairwise_inputs,
    promote_half,
    safe_sqrt,
)


def squared_pairwise_by_expansion(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_j||^2`` for ``x`` [N, D], ``y`` [M, D] -> [N, M], without input checks.

    Shared by the Euclidean and Mahalanobis distances (the latter on whitened inputs).
    """
    x, y = promote_half(x), promote_half(y)
    with torch.autocast(device_type=x.device.type, enabled=False):
        # Distances are translation invariant, so the shift changes nothing but the rounding: the
        # expansion subtracts squared norms, and smaller norms lose fewer digits. Its gradient would
        # cancel exactly, hence detach().
        shift = torch.cat([x, y]).mean(dim=0).detach()
        x, y = x - shift, y - shift
        norms = x.pow(2).sum(dim=1)[:, None] + y.pow(2).sum(dim=1)[None, :]
        squared = torch.addmm(norms, x, y.T, alpha=-2.0)
    return squared.clamp(min=0.0)


def squared_euclidean_pairwise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_j||^2``; ``x`` [N, D], ``y`` [M, D] -> [N, M]."""
    check_pairwise_inputs(x, y)
    return squared_pairwise_by_expansion(x, y)


def squared_euclidean_paired(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_i||^2``; ``x``, ``y`` [N, D] -> [N]."""
    check_paired_inputs(x, y)
    return (promote_half(x) - promote_half(y)).pow(2).sum(dim=1)


def euclidean_pairwise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_j||_2``; ``x`` [N, D], ``y`` [M, D] -> [N, M]."""
    return safe_sqrt(squared_euclidean_pairwise(x, y))


def euclidean_paired(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_i||_2``; ``x``, ``y`` [N, D] -> [N]."""
    return safe_sqrt(squared_euclidean_paired(x, y))


class EuclideanDistance(Distance):
    """``||x - y||_2`` (smaller is closer), with a zero gradient at zero distance."""

    larger_is_closer = False

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return euclidean_pairwise(x, y)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return euclidean_paired(x, y)


class SquaredEuclideanDistance(Distance):
    """``||x - y||_2^2`` (smaller is closer)."""

    larger_is_closer = False

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return squared_euclidean_pairwise(x, y)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return squared_euclidean_paired(x, y)
