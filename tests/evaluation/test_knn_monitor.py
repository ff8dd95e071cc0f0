"""Weighted kNN monitor against a slow per-sample loop."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.evaluation.knn import knn_accuracy, knn_class_scores, knn_predict


def knn_reference(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    num_classes: int,
    k: int,
    temperature: float,
) -> tuple[list[list[float]], list[int]]:
    """Per test sample: cosine to every train sample, sort, vote exp(s / T) over the k best."""
    all_scores, predictions = [], []
    for query in test.double().tolist():
        similarities = []
        for index, row in enumerate(train.double().tolist()):
            dot = sum(a * b for a, b in zip(query, row, strict=True))
            norms = math.sqrt(sum(a * a for a in query)) * math.sqrt(sum(b * b for b in row))
            similarities.append((dot / norms, index))
        similarities.sort(reverse=True)
        scores = [0.0] * num_classes
        for similarity, index in similarities[: min(k, len(similarities))]:
            scores[int(train_labels[index])] += math.exp(similarity / temperature)
        all_scores.append(scores)
        predictions.append(max(range(num_classes), key=lambda c: (scores[c], -c)))
    return all_scores, predictions


@pytest.mark.parametrize(("k", "chunk_size"), [(5, 7), (200, 1024)])  # 200 > N clamps to N
def test_matches_slow_loop(k: int, chunk_size: int) -> None:
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(60, 8, generator=generator)
    train_labels = torch.randint(0, 4, (60,), generator=generator)
    test = torch.randn(25, 8, generator=generator)
    scores = knn_class_scores(train, train_labels, test, 4, k=k, chunk_size=chunk_size)
    expected_scores, expected_predictions = knn_reference(train, train_labels, test, 4, k, 0.1)
    torch.testing.assert_close(
        scores.double(), torch.tensor(expected_scores, dtype=torch.float64),
        rtol=1e-4, atol=0,
    )  # fmt: skip
    predictions = knn_predict(train, train_labels, test, 4, k=k, chunk_size=chunk_size)
    assert predictions.dtype == torch.int64
    assert predictions.tolist() == expected_predictions


def test_half_precision_does_not_overflow() -> None:
    generator = torch.Generator().manual_seed(1)
    train = torch.randn(300, 4, generator=generator)
    labels = torch.zeros(300, dtype=torch.long)
    test = train[:5].half()  # self-similarity 1: exp(10) summed over 200 neighbours > fp16 max
    scores = knn_class_scores(train.half(), labels, test, 2)
    assert torch.isfinite(scores).all()
    assert scores.dtype == torch.float32


def test_accuracy_on_separated_clusters() -> None:
    generator = torch.Generator().manual_seed(2)
    centres = torch.eye(3) * 10
    labels = torch.arange(90) % 3
    train = centres[labels] + torch.randn(90, 3, generator=generator)
    test_labels = torch.arange(30) % 3
    test = centres[test_labels] + torch.randn(30, 3, generator=generator)
    assert knn_accuracy(train, labels, test, test_labels, 3, k=10) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_features": torch.zeros(3, 5)}, "share D"),
        ({"train_labels": torch.tensor([0, 1, 2, 5])}, r"train_labels must lie in \[0, 3\)"),
        ({"train_labels": torch.tensor([0, 1])}, "train_labels has 2 entries"),
        ({"k": 0}, "k must"),
        ({"temperature": 0.0}, "temperature"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_rejects_bad_input(kwargs: dict, match: str) -> None:
    arguments = {
        "train_features": torch.randn(4, 2),
        "train_labels": torch.tensor([0, 1, 2, 0]),
        "test_features": torch.randn(3, 2),
        "num_classes": 3,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        knn_predict(**arguments)
