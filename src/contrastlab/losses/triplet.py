"""Triplet margin loss (Schroff et al., "FaceNet", CVPR 2015; Hermans et al. 2017 for batch mining).

For an anchor ``a``, a positive ``p`` (same class) and a negative ``n`` (another class)::

    L = max(d(a, p) - d(a, n) + margin, 0)     for a dissimilarity d (Euclidean, ...)
    L = max(s(a, n) - s(a, p) + margin, 0)     for a similarity s (cosine, dot product)

The margin is in the units of the chosen distance (default ``EuclideanDistance``, margin 1.0; for
cosine similarity a margin of 0.1-0.5 is usual).

Two modules, because the two call signatures mean different things:

- ``TripletLoss``: ``forward(anchor, positive, negative)``, explicit triplets, each [N, D]; the mean
  is over the N triplets (zero-loss ones included, like ``torch.nn.TripletMarginLoss``).
- ``BatchTripletLoss``: ``forward(embeddings, labels)``, triplets mined from a labelled batch (see
  ``contrastlab.losses.mining``). What ``'mean'`` averages over depends on the miner:

  * ``'batch_all'``: over the valid triplets with a **positive** loss (Hermans et al.), so that the
    many already-satisfied triplets do not dilute the gradient;
  * ``'batch_hard'``: over anchors that have a positive and a negative;
  * ``'semi_hard'``: over the mined (anchor, positive) pairs.

  ``'sum'`` adds the losses of all mined triplets; ``'none'`` returns them, 1-D, in the order of
  the miner's indices (for batch-all: ``batch_all_triplets``). A batch without a valid triplet
  (one class, or all singletons) gives a loss of 0 with zero gradient, never NaN.

  Batch-all and semi-hard mining build [N, N, N] tensors (N = 256: 16.8M entries), which is the
  price of having no Python loop; batch-hard needs only [N, N]. Batch-all and semi-hard
  differentiate every pair's exact distance ([N, N], from N (N - 1) / 2 pair differences).

Forward and backward read no value on the host with ``reduction`` 'mean' or 'sum': every miner
works on fixed shapes (all anchors, all pairs, with a validity mask). ``'none'`` returns only the
mined triplets, whose number depends on the labels and distances: that one reads a count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import (
    check_choice,
    check_float_tensor,
    check_labels,
    check_non_negative,
    reduce_loss,
    value_checks,
)
from contrastlab.collectives import gather_no_grad, gather_with_grad
from contrastlab.distances.base import Distance, resolve_distance
from contrastlab.distances.euclidean import EuclideanDistance
from contrastlab.losses.mining import (
    hardest_per_anchor,
    semi_hard_per_pair,
    valid_triplet_mask,
)

MINING_STRATEGIES = ("batch_all", "batch_hard", "semi_hard")


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float = 1.0,
    distance: Distance | None = None,
    reduction: str = "mean",
    validate: bool = False,
) -> torch.Tensor:
    """Triplet margin loss over explicit triplets ``(anchor[i], positive[i], negative[i])``.

    Args:
        anchor, positive, negative: [N, D] each.
        margin: >= 0, in the units of ``distance``.
        distance: any ``Distance``; None means ``EuclideanDistance()``.
        reduction: 'mean' (over the N triplets), 'sum' or 'none' ([N]).
        validate: also check that the inputs are finite (a host read; shapes and dtypes are
            always checked).
    """
    distance = resolve_distance(distance, EuclideanDistance)
    check_non_negative("margin", margin)
    for name, tensor in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        check_float_tensor(name, tensor, ndim=2, values=validate)
        if tensor.shape != anchor.shape:
            raise ValueError(
                f"{name} must have the anchor's shape {tuple(anchor.shape)}, "
                f"got {tuple(tensor.shape)}"
            )
    with value_checks(validate):
        to_positive = distance.paired(anchor, positive)
        to_negative = distance.paired(anchor, negative)
    if distance.larger_is_closer:
        to_positive, to_negative = -to_positive, -to_negative
    return reduce_loss(F.relu(to_positive - to_negative + margin), reduction)


def batch_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 1.0,
    distance: Distance | None = None,
    mining: str = "batch_all",
    reduction: str = "mean",
    validate: bool = False,
) -> torch.Tensor:
    """Triplet margin loss over the triplets mined from a labelled batch.

    Args:
        embeddings: [N, D].
        labels: [N] integer class labels.
        margin, distance: as in ``triplet_loss``.
        mining: 'batch_all', 'batch_hard' or 'semi_hard' (see ``contrastlab.losses.mining``).
        reduction: 'mean', 'sum' or 'none'; see the module docstring for what the mean is over.
        validate: also check that the embeddings are finite (a host read).
    """
    distance = resolve_distance(distance, EuclideanDistance)
    check_non_negative("margin", margin)
    check_choice("mining", mining, MINING_STRATEGIES)
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    check_float_tensor("embeddings", embeddings, ndim=2, values=validate)
    labels = check_labels("labels", labels, embeddings.shape[0])
    sign = -1.0 if distance.larger_is_closer else 1.0
    # Work with a dissimilarity throughout: for a similarity s, -s orders pairs the same way and
    # d(a, p) - d(a, n) = s(a, n) - s(a, p).
    with value_checks(validate):
        if mining == "batch_hard":
            # Mine on the fast matrix without gradient, then differentiate the mined pairs exactly.
            with torch.no_grad():
                mining_values = sign * distance.pairwise(embeddings, embeddings)
            positive, negative, valid = hardest_per_anchor(mining_values, labels)
            positive_values = sign * distance.paired(embeddings, embeddings[positive])
            negative_values = sign * distance.paired(embeddings, embeddings[negative])
            losses = F.relu(positive_values - negative_values + margin)  # [N]
        else:
            # Differentiated through every pair: exact pair-by-pair values (the fast expansion
            # loses close pairs to float32 cancellation).
            dissimilarities = sign * distance.self_pairwise_exact(embeddings)
            if mining == "batch_all":
                losses = F.relu(dissimilarities[:, :, None] - dissimilarities[:, None, :] + margin)
                valid = valid_triplet_mask(labels)
                if reduction != "none":  # the mean is over the triplets with a positive loss
                    valid = valid & (losses != 0)  # (a NaN loss counts: it must not vanish)
            else:
                negative, valid = semi_hard_per_pair(dissimilarities.detach(), labels, margin)
                to_negative = dissimilarities.gather(1, negative)  # d(a, n*(a, p))   [N, N]
                losses = F.relu(dissimilarities - to_negative + margin)
    if reduction == "none":
        return losses[valid]
    return reduce_loss(losses, reduction, valid=valid)


class TripletLoss(nn.Module):
    """Module form of ``triplet_loss``: ``forward(anchor, positive, negative)``, each [N, D]."""

    def __init__(
        self,
        margin: float = 1.0,
        distance: Distance | None = None,
        reduction: str = "mean",
        validate: bool = False,
    ) -> None:
        super().__init__()
        check_non_negative("margin", margin)
        check_choice("reduction", reduction, ("mean", "sum", "none"))
        self.margin = margin
        self.distance = resolve_distance(distance, EuclideanDistance)
        self.reduction = reduction
        self.validate = validate

    def forward(
        self, anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
    ) -> torch.Tensor:
        return triplet_loss(
            anchor, positive, negative, self.margin, self.distance, self.reduction, self.validate
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class BatchTripletLoss(nn.Module):
    """Module form of ``batch_triplet_loss``: ``forward(embeddings [N, D], labels [N])``.

    ``gather_distributed=True`` mines the triplets of the global batch of all processes (the
    embeddings gathered with gradients, the labels without; see :mod:`contrastlab.collectives`).
    """

    def __init__(
        self,
        margin: float = 1.0,
        distance: Distance | None = None,
        mining: str = "batch_all",
        reduction: str = "mean",
        validate: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_non_negative("margin", margin)
        check_choice("mining", mining, MINING_STRATEGIES)
        check_choice("reduction", reduction, ("mean", "sum", "none"))
        self.margin = margin
        self.distance = resolve_distance(distance, EuclideanDistance)
        self.mining = mining
        self.reduction = reduction
        self.validate = validate
        self.gather_distributed = gather_distributed

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.gather_distributed:
            embeddings = gather_with_grad(embeddings, validate=self.validate)
            labels = gather_no_grad(labels, validate=self.validate)
        return batch_triplet_loss(
            embeddings,
            labels,
            self.margin,
            self.distance,
            self.mining,
            self.reduction,
            self.validate,
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, mining={self.mining!r}, reduction={self.reduction!r}, "
            f"gather_distributed={self.gather_distributed}"
        )
