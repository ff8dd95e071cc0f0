"""Few-label evaluation: how well a representation classifies from 1, 5, 10, ... labels per class.

For each budget ``per_class`` (``None`` = every training label) and each draw ``d``, a stratified
subset of the training set is labelled (:func:`sample_labeled_subset` with seed ``seed + d``), a
classifier is fitted on it and its test top-1 is recorded; the report gives mean and standard
deviation over draws. Because a draw's seed does not depend on the budget and the subsets are
nested (see :func:`sample_labeled_subset`), budgets are compared on the same labelled samples.

:func:`run_few_label_protocol` is generic: it only needs the training labels and a callable
``fit_and_score(train_indices, draw) -> test accuracy`` (or several scores), so a probe on frozen
features and the fine-tuning of a whole network plug in alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from contrastlab._checks import check_int, check_labels


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


def _statistics(scores: list[float]) -> dict[str, Any]:
    mean = sum(scores) / len(scores)
    variance = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1) if len(scores) > 1 else 0.0
    return {"scores": scores, "mean": mean, "std": math.sqrt(variance)}


def run_few_label_protocol(
    train_labels: torch.Tensor,
    fit_and_score: Callable[[torch.Tensor, int], float | Mapping[str, float]],
    per_class_list: Sequence[int | None] = (1, 5, 10, 20, None),
    n_draws: int = 3,
    seed: int = 0,
    on_score: Callable[[int, Mapping[str, float]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Score ``fit_and_score(train_indices, draw)`` over label budgets and random draws.

    ``fit_and_score`` returns the test accuracy, or several scores ``{"test": ..., "other":
    ...}`` (e.g. a cross-load test set). Returns ``{key: {"per_class", "n_labeled", "scores",
    "mean", "std", other: {"scores", "mean", "std"}, ...}}`` keyed by ``str(per_class)`` or
    ``"all"`` for ``None``, in the order of ``per_class_list``: ``scores`` / ``mean`` / ``std``
    are the test accuracy's, ``std`` the sample standard deviation (``ddof=1``; 0.0 for a single
    draw). The ``None`` budget is fitted once: every draw would label the same samples.
    ``on_score(n_labeled, scores)`` is called after every fit (a progress bar).
    """
    check_int("n_draws", n_draws)
    per_class_list = list(per_class_list)
    if not per_class_list:
        raise ValueError("per_class_list must name at least one budget")
    if len(set(per_class_list)) != len(per_class_list):
        raise ValueError(f"per_class_list has duplicates: {per_class_list}")

    results: dict[str, dict[str, Any]] = {}
    for per_class in per_class_list:
        runs: list[dict[str, float]] = []
        n_labeled = 0
        for draw in range(1 if per_class is None else n_draws):
            indices = sample_labeled_subset(train_labels, per_class, seed=seed + draw)
            n_labeled = indices.numel()
            scored = fit_and_score(indices, draw)
            scores = dict(scored) if isinstance(scored, Mapping) else {"test": float(scored)}
            runs.append({name: float(value) for name, value in scores.items()})
            if on_score is not None:
                on_score(n_labeled, runs[-1])
        entry: dict[str, Any] = {"per_class": per_class, "n_labeled": n_labeled}
        entry.update(_statistics([run["test"] for run in runs]))
        for name in runs[0]:
            if name != "test":
                entry[name] = _statistics([run[name] for run in runs])
        results["all" if per_class is None else str(per_class)] = entry
    return results
