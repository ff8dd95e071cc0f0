"""Top-k accuracy, confusion matrix and balanced accuracy against slow loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlab.evaluation.metrics import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    topk_accuracy,
)


def topk_reference(logits: torch.Tensor, targets: torch.Tensor, k: int) -> float:
    hits = 0
    for row, target in zip(logits.tolist(), targets.tolist(), strict=True):
        ranked = sorted(range(len(row)), key=lambda c: -row[c])
        hits += target in ranked[:k]
    return 100.0 * hits / len(targets)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_topk_matches_slow_loop(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    # Distinct scores (a permutation per row) so the ranking has no ties in any dtype.
    logits = torch.stack([torch.randperm(7, generator=generator) for _ in range(50)]).to(dtype)
    targets = torch.randint(0, 7, (50,), generator=generator)
    ks = (1, 2, 5, 7)
    result = topk_accuracy(logits, targets, ks=ks)
    assert result == pytest.approx([topk_reference(logits.float(), targets, k) for k in ks])


def test_topk_clamps_k_to_num_classes() -> None:
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    targets = torch.tensor([2, 0])
    top1, top5 = topk_accuracy(logits, targets)  # k = 5 > C = 3
    assert top1 == pytest.approx(50.0)
    assert top5 == pytest.approx(100.0)


def test_confusion_matrix_and_balanced_accuracy() -> None:
    generator = torch.Generator().manual_seed(1)
    targets = torch.randint(0, 4, (200,), generator=generator)
    predictions = torch.randint(0, 4, (200,), generator=generator)
    num_classes = 5  # class 4 never occurs: it still gets a row and a column
    cm = confusion_matrix(predictions, targets, num_classes)
    expected = np.zeros((num_classes, num_classes), dtype=np.int64)
    for target, prediction in zip(targets.tolist(), predictions.tolist(), strict=True):
        expected[target, prediction] += 1
    np.testing.assert_array_equal(cm, expected)
    recalls = [expected[c, c] / expected[c].sum() for c in range(4)]
    assert balanced_accuracy(predictions, targets, num_classes) == pytest.approx(
        100 * np.mean(recalls)
    )
    assert accuracy(predictions, targets) == pytest.approx(
        100 * np.trace(expected) / expected.sum()
    )


@pytest.mark.parametrize(
    ("logits", "targets", "match"),
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), "logits must be 2-D"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), "floating"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), "targets has 5 entries"),
        (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]), r"targets must lie in \[0, 3\)"),
        (torch.zeros(4, 3), torch.tensor([0.0, 1.0, 2.0, 0.0]), "integer dtype"),
        (torch.full((2, 3), float("nan")), torch.tensor([0, 1]), "NaN"),
    ],
)
def test_topk_rejects_bad_input(logits: torch.Tensor, targets: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        topk_accuracy(logits, targets)


def test_other_metrics_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="ks"):
        topk_accuracy(torch.zeros(2, 3), torch.tensor([0, 1]), ks=(0,))
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(torch.tensor([0]), torch.tensor([0]), 0)
    with pytest.raises(ValueError, match=r"predictions must lie in \[0, 2\)"):
        confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="targets has 1 entries"):
        accuracy(torch.tensor([0, 1]), torch.tensor([0]))
