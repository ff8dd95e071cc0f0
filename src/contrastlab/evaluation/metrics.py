"""Classification metrics: top-k accuracy, accuracy, confusion matrix, balanced accuracy.

Conventions: accuracies are **percentages** in [0, 100]; class indices are int64 in
``[0, num_classes)``; the confusion matrix has true classes on rows and predictions on columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from contrastlab._checks import check_float_tensor, check_int, check_labels


def check_class_indices(
    name: str, labels: object, expected_count: int, num_classes: int
) -> torch.Tensor:
    """Require an integer vector of ``expected_count`` class indices in ``[0, num_classes)``."""
    labels = check_labels(name, labels, expected_count)
    if labels.numel() > 0 and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{name} must lie in [0, {num_classes}), got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels.long()


def check_num_classes(num_classes: object) -> int:
    """Require an integer ``num_classes >= 1``."""
    return check_int("num_classes", num_classes)


def topk_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> list[float]:
    """Top-k accuracies in percent, one per ``k`` in ``ks``.

    ``logits``: [N, C] scores (logits or probabilities); ``targets``: [N] class indices in [0, C).
    A sample counts for ``k`` when its target is among the ``min(k, C)`` highest scores: ``k > C``
    is clamped to ``C`` (so it scores 100%), which keeps top-5 meaningful on fewer than 5 classes.
    Ties between scores are broken by ``torch.topk`` (unspecified order).
    """
    check_float_tensor("logits", logits, ndim=2)
    num_samples, num_classes = logits.shape
    targets = check_class_indices("targets", targets, num_samples, num_classes)
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks must name at least one k")
    for k in ks:
        check_int("every k in ks", k)
    max_k = min(max(ks), num_classes)
    top = logits.topk(max_k, dim=1).indices  # [N, max_k], best first
    hits = top.eq(targets.to(top.device).unsqueeze(1))  # [N, max_k], at most one True per row
    cumulative = hits.cumsum(dim=1).clamp(max=1).float()  # [N, max_k]: hit within the first j+1
    return [100.0 * float(cumulative[:, min(k, num_classes) - 1].mean()) for k in ks]


def accuracy(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """Percentage of ``predictions`` ([N] class indices) equal to ``targets`` ([N])."""
    predictions = check_labels("predictions", predictions, _length("predictions", predictions))
    targets = check_labels("targets", targets, predictions.numel())
    if predictions.numel() == 0:
        raise ValueError("predictions is empty")
    return 100.0 * float(predictions.eq(targets.to(predictions.device)).float().mean())


def confusion_matrix(
    predictions: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> np.ndarray:
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as ``j``: int64 [C, C].

    Every class in ``[0, num_classes)`` gets a row and a column, even when absent from the data.
    """
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    num_classes = check_num_classes(num_classes)
    predictions = check_class_indices(
        "predictions", predictions, _length("predictions", predictions), num_classes
    )
    targets = check_class_indices("targets", targets, predictions.numel(), num_classes)
    if predictions.numel() == 0:
        raise ValueError("predictions is empty")
    return sklearn_confusion_matrix(
        targets.cpu().numpy(), predictions.cpu().numpy(), labels=np.arange(num_classes)
    ).astype(np.int64)


def balanced_accuracy(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> float:
    """Mean per-class recall in percent, ``100 * mean_i cm[i, i] / sum_j cm[i, j]``, over the
    classes present in ``targets`` (absent classes have no recall and are left out)."""
    cm = confusion_matrix(predictions, targets, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    return 100.0 * float(np.mean(np.diag(cm)[present] / support[present]))


def _length(name: str, tensor: object) -> int:
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    return int(tensor.numel())
