"""The interface every distance implements, and the input checks they share.

A distance compares embeddings two ways:

- ``pairwise(x [N, D], y [M, D]) -> [N, M]``: every row of ``x`` against every row of ``y``;
- ``paired(x [N, D], y [N, D]) -> [N]``: row ``i`` of ``x`` against row ``i`` of ``y``.

``larger_is_closer`` tells a loss whether the values are similarities (cosine, dot product: larger
means closer) or dissimilarities (Euclidean, Mahalanobis: smaller means closer), as in
pytorch-metric-learning. The maths lives in pure functions next to each class; the classes only hold
what a distance needs (e.g. a Mahalanobis covariance) and call them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from contrastlab._checks import check_float_tensor

_HALF_DTYPES = (torch.float16, torch.bfloat16)


def check_pairwise_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """Require finite float matrices ``x`` [N, D] and ``y`` [M, D] of one dtype and feature size."""
    check_float_tensor("x", x, ndim=2)
    check_float_tensor("y", y, ndim=2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            "x and y must have the same feature dimension D, "
            f"got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    if x.dtype != y.dtype:
        raise ValueError(f"x and y must have the same dtype, got {x.dtype} and {y.dtype}")


def check_paired_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """Require finite float matrices ``x`` and ``y`` of the same shape [N, D]."""
    check_pairwise_inputs(x, y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            "paired comparison needs the same number of rows N in x and y, "
            f"got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )


def promote_half(tensor: torch.Tensor) -> torch.Tensor:
    """Cast float16 / bfloat16 to float32; other dtypes are returned unchanged.

    Squared distances overflow float16 for norms above ~256 and lose every digit to cancellation in
    the ``|x|^2 + |y|^2 - 2 x.y`` expansion, so those computations always run in at least float32.
    """
    return tensor.float() if tensor.dtype in _HALF_DTYPES else tensor


def safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    """``sqrt(squared)`` for ``squared >= 0`` whose gradient at 0 is 0 instead of inf (or NaN).

    The derivative of a distance at coincident points does not exist; 0 is a valid subgradient and
    keeps identical embeddings (e.g. two views collapsing) from poisoning a whole batch with NaN.
    A NaN stays NaN (unchecked non-finite inputs must show in the loss, not read as distance 0).
    """
    positive = ~(squared <= 0)
    safe = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, safe.sqrt(), torch.zeros_like(squared))


class Distance(nn.Module, ABC):
    """Base class: ``forward(x, y)`` is ``pairwise(x, y)``.

    Subclasses set ``larger_is_closer`` and implement ``pairwise`` ([N, D], [M, D] -> [N, M]) and
    ``paired`` ([N, D], [N, D] -> [N]), validating their inputs (see ``check_pairwise_inputs``).
    """

    larger_is_closer: bool = False

    @abstractmethod
    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Compare every row of ``x`` [N, D] with every row of ``y`` [M, D]; returns [N, M]."""

    @abstractmethod
    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Compare row ``i`` of ``x`` [N, D] with row ``i`` of ``y`` [N, D]; returns [N]."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.pairwise(x, y)

    def self_pairwise_exact(self, x: torch.Tensor) -> torch.Tensor:
        """``pairwise(x, x)`` [N, N] computed pair by pair with ``paired``.

        The fast ``pairwise`` of a Euclidean distance expands ``|x|^2 + |y|^2 - 2 x.y``, which in
        float32 loses close pairs of a spread-out batch to cancellation (a distance of 0.01
        reads as 0, with zero gradient). Losses that differentiate through every pair use this
        instead: exact, at O(N^2 D) memory for the pair differences.
        """
        n_samples = x.shape[0]
        first, second = torch.triu_indices(n_samples, n_samples, offset=1, device=x.device)
        upper = paired_or_empty(self, x[first], x[second])
        diagonal = self.paired(x, x)
        matrix = upper.new_zeros(n_samples, n_samples)
        matrix = matrix.index_put((first, second), upper).index_put((second, first), upper)
        return matrix.index_put((torch.arange(n_samples, device=x.device),) * 2, diagonal)


def paired_or_empty(distance: Distance, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``distance.paired(x, y)``, or an empty [0] tensor still attached to the graph when there
    are no pairs (so a loss over zero pairs backpropagates zeros instead of failing)."""
    if x.shape[0] == 0:
        return (x * 0).sum(dim=1) + (y * 0).sum(dim=1)
    return distance.paired(x, y)


def resolve_distance(distance: Distance | None, default: type[Distance]) -> Distance:
    """``distance`` itself, or a fresh ``default()`` when it is None; anything else is an error."""
    if distance is None:
        return default()
    if not isinstance(distance, Distance):
        raise ValueError(
            "distance must be a contrastlab.distances.Distance (e.g. EuclideanDistance()), "
            f"got {type(distance).__name__}"
        )
    return distance
