"""Margin contrastive loss (R. Hadsell, S. Chopra, Y. LeCun, "Dimensionality Reduction by
Learning an Invariant Mapping", CVPR 2006).

For a pair of embeddings at distance ``D`` with label ``Y`` (**Y = 0 similar, Y = 1 dissimilar**,
as in the paper)::

    L = (1 - Y) * 1/2 * D^2 + Y * 1/2 * max(0, m - D)^2

Similar pairs are pulled together (a spring of rest length 0); dissimilar pairs are pushed out to
the margin ``m`` and ignored beyond it. Much code (e.g. the Keras Siamese examples) uses the
opposite convention, 1 = similar: pass ``similar_label=1`` to say so; labels are never
reinterpreted silently, and any value other than 0 / 1 is an error.

``D`` comes from a pluggable dissimilarity (default ``EuclideanDistance``; also
``SquaredEuclideanDistance``, ``CosineDistance`` = 1 - cos, ``MahalanobisDistance``). A similarity
(``larger_is_closer``, e.g. ``CosineSimilarity``) is rejected with a ValueError rather than
converted: ``1 - s`` is only meaningful for bounded similarities, and the margin has to be chosen
for the dissimilarity actually used, so the caller picks it (``CosineDistance`` for cosine).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import (
    check_float_tensor,
    check_labels,
    check_non_negative,
    reduce_loss,
    value_checks,
)
from contrastlab.collectives import gather_no_grad, gather_with_grad
from contrastlab.distances.base import Distance, paired_or_empty, resolve_distance
from contrastlab.distances.euclidean import EuclideanDistance


def _dissimilarity(distance: Distance | None) -> Distance:
    distance = resolve_distance(distance, EuclideanDistance)
    if distance.larger_is_closer:
        raise ValueError(
            f"the contrastive loss needs a dissimilarity (smaller = closer), got "
            f"{type(distance).__name__}, a similarity; use e.g. CosineDistance (1 - cos) instead"
        )
    return distance


def _check_similar_label(similar_label: int) -> None:
    if type(similar_label) is not int or similar_label not in (0, 1):
        raise ValueError(f"similar_label must be 0 or 1, got {similar_label!r}")


def _pair_losses(distances: torch.Tensor, dissimilar: torch.Tensor, margin: float) -> torch.Tensor:
    """``1/2 D^2`` for similar pairs, ``1/2 max(0, m - D)^2`` for dissimilar ones."""
    pushed = F.relu(margin - distances).pow(2)
    return 0.5 * torch.where(dissimilar, pushed, distances.pow(2))


def _pair_labels(y: torch.Tensor, count: int) -> torch.Tensor:
    """``y`` as ``[count]``: integer and bool labels as ``check_labels`` takes them, floating-point
    ones (0.0 / 1.0) too."""
    if isinstance(y, torch.Tensor) and y.is_floating_point():
        if y.dim() > 1 and not (y.dim() == 2 and y.shape[1] == 1):
            raise ValueError(f"y must be 1-D of shape [{count}], got {tuple(y.shape)}")
        if y.numel() != count:
            raise ValueError(f"y has {y.numel()} entries but there are {count} pairs")
        return y.reshape(-1)
    return check_labels("y", y, count)


def contrastive_loss(
    x1: torch.Tensor,
    x2: torch.Tensor,
    y: torch.Tensor,
    margin: float = 1.0,
    distance: Distance | None = None,
    similar_label: int = 0,
    reduction: str = "mean",
    validate: bool = False,
) -> torch.Tensor:
    """Margin contrastive loss over given pairs ``(x1[i], x2[i])``.

    Args:
        x1, x2: [N, D] embeddings of the two sides of each pair.
        y: [N] pair labels, only 0 and 1: integer, bool or floating point (0.0 / 1.0, the usual
            PyTorch target dtype).
        margin: m >= 0, the distance beyond which dissimilar pairs stop contributing.
        distance: a dissimilarity; None means ``EuclideanDistance()``.
        similar_label: the value of ``y`` that marks a similar pair: 0 (Hadsell et al., default) or
            1 (the Keras convention).
        reduction: 'mean' (over the N pairs), 'sum' or 'none' ([N]).
        validate: also check the values: finite embeddings, ``y`` only 0 and 1 (reads values on
            the host; shapes and dtypes are always checked). Forward and backward read none.
    """
    distance = _dissimilarity(distance)
    check_non_negative("margin", margin)
    _check_similar_label(similar_label)
    check_float_tensor("x1", x1, ndim=2, values=validate)
    check_float_tensor("x2", x2, ndim=2, values=validate)
    if x1.shape != x2.shape:
        raise ValueError(
            "x1 and x2 must have the same shape [N, D], "
            f"got {tuple(x1.shape)} and {tuple(x2.shape)}"
        )
    y = _pair_labels(y, x1.shape[0])
    if validate and not bool(((y == 0) | (y == 1)).all()):
        raise ValueError(
            f"y must contain only 0 and 1 (similar_label={similar_label} marks similar pairs), "
            f"got values {y.unique().tolist()}"
        )
    with value_checks(validate):
        distances = distance.paired(x1, x2)
    return reduce_loss(_pair_losses(distances, y != similar_label, margin), reduction)


def contrastive_loss_from_labels(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 1.0,
    distance: Distance | None = None,
    reduction: str = "mean",
    validate: bool = False,
) -> torch.Tensor:
    """Margin contrastive loss over every pair ``i < j`` of a labelled batch.

    A pair is similar when ``labels[i] == labels[j]``. Every one of the N (N - 1) / 2 pairs counts,
    so with many classes most pairs are dissimilar (and contribute 0 once beyond the margin).

    Args:
        embeddings: [N, D].
        labels: [N] integer class labels.
        margin, distance: as in ``contrastive_loss``.
        reduction: 'mean' (over all pairs; 0 with zero gradient when N = 1), 'sum' or 'none'
            ([N (N - 1) / 2] in the order of ``torch.triu_indices(N, N, offset=1)``).
        validate: also check that the embeddings are finite (a host read). Forward and backward
            read no value on the host.
    """
    distance = _dissimilarity(distance)
    check_non_negative("margin", margin)
    check_float_tensor("embeddings", embeddings, ndim=2, values=validate)
    labels = check_labels("labels", labels, embeddings.shape[0])
    n_samples = embeddings.shape[0]
    first, second = torch.triu_indices(n_samples, n_samples, offset=1, device=embeddings.device)
    # Pair by pair, not through the fast pairwise expansion: exact for close pairs in float32.
    with value_checks(validate):
        distances = paired_or_empty(distance, embeddings[first], embeddings[second])
    per_pair = _pair_losses(distances, labels[first] != labels[second], margin)
    # Every pair is valid; passing the mask makes an empty (N = 1) mean 0 instead of NaN.
    return reduce_loss(per_pair, reduction, valid=torch.ones_like(per_pair, dtype=torch.bool))


class ContrastiveLoss(nn.Module):
    """Module form of ``contrastive_loss``: ``forward(x1 [N, D], x2 [N, D], y [N])``."""

    def __init__(
        self,
        margin: float = 1.0,
        distance: Distance | None = None,
        similar_label: int = 0,
        reduction: str = "mean",
        validate: bool = False,
    ) -> None:
        super().__init__()
        check_non_negative("margin", margin)
        _check_similar_label(similar_label)
        self.margin = margin
        self.distance = _dissimilarity(distance)
        self.similar_label = similar_label
        self.reduction = reduction
        self.validate = validate

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return contrastive_loss(
            x1, x2, y, self.margin, self.distance, self.similar_label, self.reduction, self.validate
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, similar_label={self.similar_label}, "
            f"reduction={self.reduction!r}"
        )


class PairwiseContrastiveLoss(nn.Module):
    """Module form of ``contrastive_loss_from_labels``: ``forward(embeddings [N, D], labels [N])``.

    Use it when a batch carries class labels rather than explicit pairs (all pairs are formed).
    ``gather_distributed=True`` forms the pairs over the global batch of all processes (the
    embeddings gathered with gradients, the labels without; see :mod:`contrastlab.collectives`).
    """

    def __init__(
        self,
        margin: float = 1.0,
        distance: Distance | None = None,
        reduction: str = "mean",
        validate: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_non_negative("margin", margin)
        self.margin = margin
        self.distance = _dissimilarity(distance)
        self.reduction = reduction
        self.validate = validate
        self.gather_distributed = gather_distributed

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.gather_distributed:
            embeddings = gather_with_grad(embeddings, validate=self.validate)
            labels = gather_no_grad(labels, validate=self.validate)
        return contrastive_loss_from_labels(
            embeddings, labels, self.margin, self.distance, self.reduction, self.validate
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, reduction={self.reduction!r}, "
            f"gather_distributed={self.gather_distributed}"
        )
