"""Triplet mining from class labels: which (anchor, positive, negative) triplets a batch offers.

A triplet ``(a, p, n)`` is valid when ``a != p``, ``labels[a] == labels[p]`` and
``labels[a] != labels[n]``. Three strategies, all vectorised (no Python loop over the batch):

- **batch-all**: every valid triplet (A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet
  Loss for Person Re-Identification", 2017). The triplets live in an [N, N, N] mask; no index
  tuples are needed to compute the loss.
- **batch-hard** (Hermans et al. 2017): for each anchor with at least one positive and one
  negative, its farthest positive and its closest negative; one triplet per such anchor.
- **semi-hard** (F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet", CVPR 2015): for each
  anchor-positive pair, a negative farther than the positive but inside the margin,
  ``d(a, p) < d(a, n) < d(a, p) + margin``; of those, the closest (hardest) one. Pairs without a
  semi-hard negative give no triplet.

The distance-based miners take a pairwise matrix [N, N] and ``larger_is_closer`` (True for
similarities, where "closest" means the largest value). Mining never carries gradient: indices are
chosen on detached values; the loss is then computed on the differentiable matrix.
"""

from __future__ import annotations

import torch

from contrastlab._checks import check_float_tensor, check_labels

TripletIndices = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` [N, N] bool masks for ``labels`` [N].

    ``positive[i, j]``: same label and ``i != j``; ``negative[i, j]``: different labels.
    """
    same = labels[:, None] == labels[None, :]
    not_self = ~torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & not_self, ~same


def valid_triplet_mask(labels: torch.Tensor) -> torch.Tensor:
    """[N, N, N] bool, ``mask[a, p, n]`` true for every valid triplet of ``labels`` [N]."""
    labels = check_labels("labels", labels, labels.numel())
    positive, negative = pair_masks(labels)
    return positive[:, :, None] & negative[:, None, :]


def batch_all_triplets(labels: torch.Tensor) -> TripletIndices:
    """Indices ``(anchor, positive, negative)`` ([T] int64 each) of every valid triplet."""
    anchor, positive, negative = valid_triplet_mask(labels).nonzero(as_tuple=True)
    return anchor, positive, negative


def _checked_dissimilarities(
    distances: torch.Tensor, labels: torch.Tensor, larger_is_closer: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Detached [N, N] values where smaller is closer, and the flattened labels."""
    check_float_tensor("distances", distances, ndim=2)
    if distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must be a square [N, N] matrix, got {tuple(distances.shape)}")
    labels = check_labels("labels", labels, distances.shape[0])
    values = distances.detach()
    return (-values if larger_is_closer else values), labels


def hardest_per_anchor(
    dissimilarities: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(hardest_positive, hardest_negative, valid)``, [N] each, for a detached [N, N] matrix
    where smaller is closer: each anchor's farthest positive and closest negative (ties to the
    lowest index), and whether it has both. Fixed shapes, no host read; an anchor that is not
    ``valid`` gets arbitrary indices."""
    positive_mask, negative_mask = pair_masks(labels)
    infinity = torch.full_like(dissimilarities, float("inf"))
    hardest_positive = torch.where(positive_mask, dissimilarities, -infinity).argmax(dim=1)
    hardest_negative = torch.where(negative_mask, dissimilarities, infinity).argmin(dim=1)
    valid = positive_mask.any(dim=1) & negative_mask.any(dim=1)
    return hardest_positive, hardest_negative, valid


def batch_hard_triplets(
    distances: torch.Tensor, labels: torch.Tensor, larger_is_closer: bool = False
) -> TripletIndices:
    """Hardest positive and hardest negative per anchor (Hermans et al. 2017).

    Args:
        distances: [N, N] pairwise values between the batch and itself.
        labels: [N] integer class labels.
        larger_is_closer: True when ``distances`` holds similarities.

    Returns:
        ``(anchor, positive, negative)``, [A] int64 each, one triplet per anchor that has both a
        positive and a negative in the batch (anchors in increasing order; ties go to the lowest
        index). The count depends on the labels (a host read; losses use
        :func:`hardest_per_anchor`).
    """
    dissimilarities, labels = _checked_dissimilarities(distances, labels, larger_is_closer)
    hardest_positive, hardest_negative, valid = hardest_per_anchor(dissimilarities, labels)
    anchor = valid.nonzero().squeeze(1)
    return anchor, hardest_positive[anchor], hardest_negative[anchor]


def semi_hard_per_pair(
    dissimilarities: torch.Tensor, labels: torch.Tensor, margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hardest, valid)``, [N, N] each, for a detached [N, N] matrix where smaller is closer:
    for each anchor-positive pair ``(a, p)`` the index of its closest semi-hard negative, and
    whether it has one (see :func:`semi_hard_triplets`). Fixed shapes, no host read. A pair at
    a NaN distance counts as having one (with an arbitrary negative), so that non-finite inputs
    surface as a NaN loss instead of vanishing from it."""
    positive_mask, negative_mask = pair_masks(labels)
    to_positive = dissimilarities[:, :, None]
    to_negative = dissimilarities[:, None, :]
    semi_hard = (
        positive_mask[:, :, None]
        & negative_mask[:, None, :]
        & (to_negative > to_positive)
        & (to_negative < to_positive + margin)
    )
    candidates = torch.where(semi_hard, to_negative, torch.full_like(to_negative, float("inf")))
    valid = semi_hard.any(dim=2) | (positive_mask & dissimilarities.isnan())
    return candidates.argmin(dim=2), valid


def semi_hard_triplets(
    distances: torch.Tensor,
    labels: torch.Tensor,
    margin: float,
    larger_is_closer: bool = False,
) -> TripletIndices:
    """The hardest semi-hard negative of each anchor-positive pair (Schroff et al. 2015).

    With ``d`` the dissimilarity (``-s`` for a similarity ``s``), a negative ``n`` of the pair
    ``(a, p)`` is semi-hard when ``d(a, p) < d(a, n) < d(a, p) + margin``: ranked behind the
    positive but still violating the margin. Of these, the one with the smallest ``d(a, n)`` is
    chosen.

    Returns:
        ``(anchor, positive, negative)``, [T] int64 each, one triplet per anchor-positive pair that
        has a semi-hard negative, in row-major (anchor, positive) order (a count read on the host;
        losses use :func:`semi_hard_per_pair`).
    """
    dissimilarities, labels = _checked_dissimilarities(distances, labels, larger_is_closer)
    hardest, valid = semi_hard_per_pair(dissimilarities, labels, margin)
    anchor, positive = valid.nonzero(as_tuple=True)
    return anchor, positive, hardest[anchor, positive]
