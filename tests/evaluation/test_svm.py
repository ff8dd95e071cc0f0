"""TS2Vec's SVM protocol on known features, and its cross-validated accuracy on the training
set against a leave-one-out loop written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlab.evaluation.svm import (
    HARD_MARGIN_C,
    SVM_C_GRID,
    cross_validated_svm_accuracy,
    searches_c,
    svm_accuracy,
)


def blobs(count: int, seed: int, shift: float, dim: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    features = torch.randn(count, dim, generator=generator) + shift * labels[:, None]
    return features, labels


def test_svm_separates_separable_features_with_a_cross_validated_c():
    train_x, train_y = blobs(60, 0, shift=6.0)
    test_x, test_y = blobs(40, 1, shift=6.0)
    accuracy, c = svm_accuracy(train_x, train_y, test_x, test_y)
    assert accuracy == 100.0 and c in SVM_C_GRID


def test_svm_uses_a_hard_margin_on_tiny_training_sets():
    train_x, train_y = blobs(8, 0, shift=6.0)  # 4 per class: no cross-validation (TS2Vec)
    test_x, test_y = blobs(20, 1, shift=6.0)
    accuracy, c = svm_accuracy(train_x, train_y, test_x, test_y)
    assert c == HARD_MARGIN_C and accuracy == 100.0


def test_svm_needs_two_classes():
    features, _ = blobs(10, 0, shift=0.0)
    with pytest.raises(ValueError, match="two classes"):
        svm_accuracy(features, torch.zeros(10, dtype=torch.long), features, torch.zeros(10))


def test_small_sets_are_cross_validated_leaving_one_series_out():
    from sklearn.svm import SVC

    features, labels = blobs(30, 2, shift=1.2)  # overlapping classes: some series missed
    x, y = features.double().numpy(), labels.numpy()
    correct = 0
    for held in range(len(y)):
        keep = np.arange(len(y)) != held
        model = SVC(C=HARD_MARGIN_C, gamma="scale").fit(x[keep], y[keep])
        correct += int(model.predict(x[held : held + 1])[0] == y[held])
    expected = 100.0 * correct / len(y)
    assert 50 < expected < 100  # the reference is informative: neither perfect nor chance
    assert cross_validated_svm_accuracy(features, labels) == pytest.approx(expected, abs=1e-12)


def test_larger_sets_are_judged_by_the_c_search_itself():
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    features, labels = blobs(80, 5, shift=1.0)  # overlapping: C matters
    x, y = features.double().numpy(), labels.numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=3)
    # The reference: every C of the grid scored on the same 5 folds, the best mean kept.
    best = max(cross_val_score(SVC(C=c, gamma="scale"), x, y, cv=folds).mean() for c in SVM_C_GRID)
    assert 50 < 100 * best < 100
    assert cross_validated_svm_accuracy(features, labels, seed=3) == pytest.approx(100 * best)


def test_the_estimate_switches_where_the_protocol_stops_searching_c(monkeypatch):
    import contrastlab.evaluation.svm as svm

    calls = []
    hard_margin = svm._hard_margin
    monkeypatch.setattr(svm, "_hard_margin", lambda x, y: calls.append(len(y)) or hard_margin(x, y))
    features, labels = blobs(50, 6, shift=6.0)
    assert searches_c(labels) and not searches_c(labels[:49])
    cross_validated_svm_accuracy(features, labels)
    assert calls == []  # 50 series: the C search's own folds
    cross_validated_svm_accuracy(features[:49], labels[:49])
    assert calls == [48] * 49  # 49: leave-one-out with the hard margin


def test_cross_validation_of_sets_with_a_class_of_one():
    features, _ = blobs(10, 0, shift=6.0)
    with pytest.raises(ValueError, match="at least two classes"):
        cross_validated_svm_accuracy(features, torch.zeros(10, dtype=torch.long))
    # Two classes, one of a single series: it is always missed, the others are predicted.
    labels = torch.tensor([0] * 9 + [1])
    features = torch.cat([torch.randn(9, 5), torch.full((1, 5), 6.0)])
    assert cross_validated_svm_accuracy(features, labels) == 90.0
