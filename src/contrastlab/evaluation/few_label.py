"""Few-label evaluation: how well a representation classifies from 1, 5, 10, ... labels per class.

For each budget ``per_class`` (``None`` = every training label) and each draw ``d``, a stratified
subset of the training set is labelled (:func:`sample_labeled_subset` with seed ``seed + d``), a
classifier is fitted on it and its test top-1 is recorded; the report gives mean and standard
deviation over draws. Because a draw's seed does not depend on the budget and the subsets are
nested (see :func:`sample_labeled_subset`), budgets are compared on the same labelled samples.

:func:`run_few_label_protocol` is generic: it only needs the training labels and a callable
``fit_and_score(train_indices) -> test accuracy``, so fine-tuning a whole network can be plugged in.
:func:`evaluate_few_label` is the feature-based instance with a pluggable probe (linear by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch

from contrastlab._checks import check_float_tensor, check_int, check_labels
from contrastlab.evaluation.linear_probe import linear_probe


class ProbeResultLike(Protocol):
    test_top1: float


def sample_labeled_subset(
    labels: torch.Tensor, per_class: int | None, seed: int = 0
) -> torch.Tensor:
    """Indices (int64, ascending) of ``per_class`` samples drawn at random from every class present
    in ``labels`` ([N] int); ``per_class=None`` returns every index.

    A class with fewer than ``per_class`` samples is an error (``ValueError`` naming it), never a
    silent clamp: a budget means the same number of labels for every class. For a given ``seed``
    the draw is deterministic and **nested**: the subset for ``k`` is contained in the one for any
    ``k' > k`` (each class is permuted once, independently of ``per_class``, and its first ``k``
    indices are taken).
    """
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    labels = check_labels("labels", labels, labels.numel()).cpu()
    if labels.numel() == 0:
        raise ValueError("labels is empty")
    if per_class is None:
        return torch.arange(labels.numel())
    check_int("per_class (or None)", per_class)
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in labels.unique().tolist():
        members = (labels == cls).nonzero().flatten()
        if members.numel() < per_class:
            raise ValueError(
                f"class {cls} has {members.numel()} samples, fewer than per_class={per_class}"
            )
        order = torch.randperm(members.numel(), generator=generator)
        chosen.append(members[order[:per_class]])
    return torch.cat(chosen).sort().values


def run_few_label_protocol(
    train_labels: torch.Tensor,
    fit_and_score: Callable[[torch.Tensor], float],
    per_class_list: Sequence[int | None] = (1, 5, 10, 20, None),
    n_draws: int = 3,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Score ``fit_and_score(train_indices)`` over label budgets and random draws.

    Returns ``{key: {"per_class", "n_labeled", "scores", "mean", "std"}}`` keyed by
    ``str(per_class)`` or ``"all"`` for ``None``, in the order of ``per_class_list``; ``std`` is
    the sample standard deviation (``ddof=1``; 0.0 for a single draw). The ``None`` budget is
    fitted once: every draw would label the same samples.
    """
    check_int("n_draws", n_draws)
    per_class_list = list(per_class_list)
    if not per_class_list:
        raise ValueError("per_class_list must name at least one budget")
    if len(set(per_class_list)) != len(per_class_list):
        raise ValueError(f"per_class_list has duplicates: {per_class_list}")

    results: dict[str, dict[str, Any]] = {}
    for per_class in per_class_list:
        draws = 1 if per_class is None else n_draws
        scores, n_labeled = [], 0
        for draw in range(draws):
            indices = sample_labeled_subset(train_labels, per_class, seed=seed + draw)
            n_labeled = indices.numel()
            scores.append(float(fit_and_score(indices)))
        mean = sum(scores) / len(scores)
        variance = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1) if draws > 1 else 0.0
        results["all" if per_class is None else str(per_class)] = {
            "per_class": per_class,
            "n_labeled": n_labeled,
            "scores": scores,
            "mean": mean,
            "std": math.sqrt(variance),
        }
    return results


def evaluate_few_label(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    per_class_list: Sequence[int | None] = (1, 5, 10, 20, None),
    n_draws: int = 3,
    seed: int = 0,
    probe: Callable[..., ProbeResultLike] = linear_probe,
    probe_kwargs: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Few-label evaluation of frozen features ([N_split, D]; labels [N_split] int).

    For each budget and draw, ``probe(train_features[idx], train_labels[idx], val_features,
    val_labels, test_features, test_labels, num_classes=num_classes, **probe_kwargs)`` is fitted
    and its ``test_top1`` recorded (see :func:`run_few_label_protocol` for the returned dict).
    ``probe`` is :func:`~contrastlab.evaluation.linear_probe.linear_probe` by default;
    :func:`~contrastlab.evaluation.linear_probe.logistic_regression_probe` suits tiny budgets.
    The full validation split is used for model selection at every budget. ``num_classes``
    defaults to 1 + the largest label in any split, so a subset never shrinks the label space.
    """
    for name, features, labels in (
        ("train", train_features, train_labels),
        ("val", val_features, val_labels),
        ("test", test_features, test_labels),
    ):
        check_float_tensor(f"{name}_features", features, ndim=2)
        check_labels(f"{name}_labels", labels, features.shape[0])
    train_labels = train_labels.reshape(-1)
    if num_classes is None:
        num_classes = 1 + max(
            int(labels.max()) for labels in (train_labels, val_labels, test_labels)
        )
    kwargs = dict(probe_kwargs or {})

    def fit_and_score(indices: torch.Tensor) -> float:
        index = indices.to(train_features.device)
        result = probe(
            train_features[index],
            train_labels[index.to(train_labels.device)],
            val_features,
            val_labels,
            test_features,
            test_labels,
            num_classes=num_classes,
            **kwargs,
        )
        return result.test_top1

    return run_few_label_protocol(train_labels, fit_and_score, per_class_list, n_draws, seed)
