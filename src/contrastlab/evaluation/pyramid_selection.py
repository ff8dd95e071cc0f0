"""Choose how far a temporal pyramid pools, by cross-validation on the training split only.

Features pooled over the pyramid ``(s_1, ..., s_m)``
(:func:`contrastlab.models.pyramid_pooling.temporal_pyramid_max`) are laid out level by level,
``D s_1`` columns, then ``D s_2``, ...; so the features of every shallower pyramid
``(s_1, ..., s_k)``, ``k <= m``, are their first ``D (s_1 + ... + s_k)`` columns.
:func:`select_pyramid_depth` scores each such prefix with
:func:`contrastlab.evaluation.svm.cross_validated_svm_accuracy` on the training features and keeps
the best; a tie goes to the shallower pyramid (``(1,)`` first: TS2Vec's full-series maximum).

Why choose at all: the finer levels keep *where* along a series a pattern occurs. That helps
where series are aligned in time (UCR ArrowHead, PickupGestureWiimoteZ) and hurts where they
are not (OSULeaf); the training split can tell which (docs/bearing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from contrastlab.evaluation.svm import cross_validated_svm_accuracy
from contrastlab.models.pyramid_pooling import check_pyramid


@dataclass(frozen=True)
class PyramidChoice:
    """The chosen prefix of the pyramid and every prefix's cross-validated accuracy (%), keyed
    ``"1"``, ``"1,2"``, ...; ``columns``: how many leading feature columns the choice keeps."""

    pyramid: tuple[int, ...]
    columns: int
    cv_accuracy: dict[str, float]


def pyramid_key(pyramid: Sequence[int]) -> str:
    """``(1, 2, 4) -> "1,2,4"``, as on the command line and in ``summary.json``."""
    return ",".join(map(str, pyramid))


def prefix_columns(features: torch.Tensor, pyramid: Sequence[int], depth: int) -> int:
    """How many leading columns of ``features [N, D sum(pyramid)]`` hold the first ``depth``
    levels of ``pyramid``."""
    pyramid = check_pyramid(pyramid)
    if features.dim() != 2 or features.shape[1] % sum(pyramid):
        raise ValueError(
            f"features {tuple(features.shape)} are not [N, D * {sum(pyramid)}] pyramid features "
            f"of {pyramid_key(pyramid)}"
        )
    if not 1 <= depth <= len(pyramid):
        raise ValueError(f"depth must be in [1, {len(pyramid)}], got {depth}")
    return features.shape[1] // sum(pyramid) * sum(pyramid[:depth])


def select_pyramid_depth(
    features: torch.Tensor, labels: torch.Tensor, pyramid: Sequence[int], seed: int = 0
) -> PyramidChoice:
    """The prefix of ``pyramid`` whose features (the leading columns of ``features [N, D
    sum(pyramid)]``) the SVM classifies best in cross-validation on ``(features, labels [N])``.
    A pyramid of one level leaves nothing to choose: it is returned without scoring
    (``cv_accuracy`` empty)."""
    pyramid = check_pyramid(pyramid)
    if len(pyramid) == 1:
        return PyramidChoice(pyramid, prefix_columns(features, pyramid, 1), {})
    scores: dict[str, float] = {}
    best_depth, best_score = 1, -1.0
    for depth in range(1, len(pyramid) + 1):
        columns = prefix_columns(features, pyramid, depth)
        score = cross_validated_svm_accuracy(features[:, :columns], labels, seed)
        scores[pyramid_key(pyramid[:depth])] = score
        if score > best_score:  # strictly better: ties keep the shallower pyramid
            best_depth, best_score = depth, score
    return PyramidChoice(
        pyramid[:best_depth], prefix_columns(features, pyramid, best_depth), scores
    )
