"""Linear probe: separable blobs, epoch selection on val, determinism; logistic variant."""

from __future__ import annotations

import pytest
import torch

from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.linear_probe import (
    linear_probe,
    logistic_regression_probe,
    probe_splits,
)
from contrastlab.evaluation.metrics import topk_accuracy


def blobs(n: int, generator: torch.Generator, num_classes: int = 5, dim: int = 16):
    """Gaussian blobs with well separated centres (offset so standardisation matters)."""
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(42)) * 5
    labels = torch.arange(n) % num_classes
    return 3.0 + 10 * centres[labels] + torch.randn(n, dim, generator=generator), labels


def test_separable_blobs_reach_full_accuracy() -> None:
    generator = torch.Generator().manual_seed(0)
    train, val, test = blobs(300, generator), blobs(100, generator), blobs(100, generator)
    result = linear_probe(*train, *val, *test, epochs=15, batch_size=64)
    assert result.val_top1 == pytest.approx(100.0)
    assert result.test_top1 == pytest.approx(100.0)
    assert result.test_top5 == pytest.approx(100.0)
    assert len(result.history) == 15
    assert [h["epoch"] for h in result.history] == list(range(1, 16))
    # The returned classifier works on raw features (standardisation folded in).
    (top1,) = topk_accuracy(result.classifier(test[0]), test[1], ks=(1,))
    assert top1 == pytest.approx(100.0)


def centroid_versus_discriminative():
    """Two parallel elongated clouds along (1, 1), centred at (-1, 0) and (+1, 0).

    From zero weights, the first full-batch SGD step gives W ∝ class means: the boundary is x = 0.
    Training rotates it towards the discriminative boundary x = y. The val/test points lie where
    the two boundaries disagree and are labelled like the centroid classifier, so val accuracy is
    100% in the first epochs and 0% at the end.
    """
    generator = torch.Generator().manual_seed(0)
    along = torch.linspace(-3, 3, 100).unsqueeze(1) * torch.tensor([[1.0, 1.0]]) / 2**0.5

    def cloud(centre_x: float) -> torch.Tensor:
        return (
            torch.tensor([[centre_x, 0.0]])
            + along
            + 0.05 * torch.randn(100, 2, generator=generator)
        )

    train = (torch.cat([cloud(-1.0), cloud(1.0)]), torch.tensor([0] * 100 + [1] * 100))
    val = (torch.tensor([[0.5, 2.0], [-0.5, -2.0]]), torch.tensor([1, 0]))
    test = (torch.tensor([[1.0, 3.0], [-1.0, -3.0], [0.3, 1.0]]), torch.tensor([1, 0, 1]))
    return train, val, test


def test_test_score_comes_from_the_best_validation_epoch() -> None:
    train, val, test = centroid_versus_discriminative()
    result = linear_probe(*train, *val, *test, epochs=40, batch_size=200, learning_rate=0.1)
    val_curve = [h["val_top1"] for h in result.history]
    assert val_curve[0] == 100.0 and val_curve[-1] == 0.0  # the case separates early from late
    best = max(range(40), key=lambda e: (val_curve[e], -result.history[e]["val_loss"], -e))
    assert result.best_epoch == best + 1
    assert result.val_top1 == 100.0
    assert result.test_top1 == pytest.approx(100.0)  # the last epoch's weights would score 0
    (top1,) = topk_accuracy(result.classifier(test[0]), test[1], ks=(1,))
    assert top1 == pytest.approx(result.test_top1)


def test_deterministic_for_a_seed() -> None:
    generator = torch.Generator().manual_seed(3)
    train, val, test = blobs(200, generator), blobs(50, generator), blobs(50, generator)
    first = linear_probe(*train, *val, *test, epochs=3, batch_size=32, seed=7)
    second = linear_probe(*train, *val, *test, epochs=3, batch_size=32, seed=7)
    assert first.history == second.history
    torch.testing.assert_close(first.classifier.weight, second.classifier.weight, rtol=0, atol=0)


def test_logistic_regression_probe_selects_c_on_val() -> None:
    generator = torch.Generator().manual_seed(4)
    train, val, test = blobs(50, generator), blobs(100, generator), blobs(100, generator)
    result = logistic_regression_probe(*train, *val, *test, c_values=(0.1, 1.0))
    assert result.test_top1 == pytest.approx(100.0)
    assert [h["c"] for h in result.history] == [0.1, 1.0]
    assert result.best_c == 0.1  # ties go to the stronger regularisation
    assert result.val_top1 == max(h["val_top1"] for h in result.history)


def test_logistic_regression_probe_handles_classes_missing_from_train() -> None:
    generator = torch.Generator().manual_seed(5)
    train, val, test = blobs(50, generator), blobs(50, generator), blobs(50, generator)
    keep = train[1] < 4  # class 4 is never seen in training
    result = logistic_regression_probe(train[0][keep], train[1][keep], *val, *test, c_values=(1.0,))
    assert result.test_top1 == pytest.approx(80.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"val_features": torch.zeros(4, 3)}, "val_features has dimension 3"),
        ({"test_labels": torch.tensor([0, 1, 9, 0])}, r"test_labels must lie in \[0, 3\)"),
        ({"train_labels": torch.zeros(4)}, "train_labels must be an integer"),
        ({"val_labels": torch.tensor([0, 1])}, "val_labels has 2 entries"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_rejects_bad_input(change: dict, match: str) -> None:
    features, labels = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    arguments = {
        "train_features": features, "train_labels": labels,
        "val_features": features, "val_labels": labels,
        "test_features": features, "test_labels": labels,
        "num_classes": 3, "epochs": 1, **change,
    }  # fmt: skip
    with pytest.raises(ValueError, match=match):
        linear_probe(**arguments)


def test_logistic_regression_needs_two_training_classes() -> None:
    features = torch.randn(4, 2)
    with pytest.raises(ValueError, match="two classes"):
        logistic_regression_probe(
            features, torch.zeros(4, dtype=torch.long), features, torch.tensor([0, 1, 0, 1]),
            features, torch.tensor([0, 1, 0, 1]),
        )  # fmt: skip


def test_probe_splits_passes_features_labels_and_the_class_count() -> None:
    generator = torch.Generator().manual_seed(0)
    train, val, test = blobs(60, generator), blobs(20, generator), blobs(20, generator)
    # Six class names for five classes present: num_classes comes from the data, not the labels.
    data = DataSplits(
        *(LabeledTensors(torch.zeros(len(labels), 1), labels) for _, labels in (train, val, test)),
        class_names=list("abcdef"),
    )
    features = {"train": train[0], "val": val[0], "test": test[0]}
    result = probe_splits(linear_probe, features, data, epochs=3, seed=1)
    expected = linear_probe(*train, *val, *test, num_classes=6, epochs=3, seed=1)
    assert result.classifier is not None and result.classifier.out_features == 6
    assert result.history == expected.history and result.test_top1 == expected.test_top1


def test_without_validation_the_last_epoch_is_kept() -> None:
    generator = torch.Generator().manual_seed(0)
    train, val, test = blobs(120, generator), blobs(40, generator), blobs(40, generator)
    options = {"epochs": 4, "batch_size": 32, "seed": 2}
    result = linear_probe(*train, None, None, *test, **options)
    assert result.val_top1 is None and result.best_epoch == 4
    assert [sorted(record) for record in result.history] == [["epoch", "train_loss"]] * 4
    # The same training steps as with a validation split (scoring val changes nothing).
    with_val = linear_probe(*train, *val, *test, **options)
    assert [r["train_loss"] for r in result.history] == [r["train_loss"] for r in with_val.history]
    assert result.classifier is not None
    (top1,) = topk_accuracy(result.classifier(test[0]), test[1], ks=(1,))
    assert top1 == pytest.approx(result.test_top1)


def test_validation_features_and_labels_come_together() -> None:
    features, labels = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match="both be given or both be None"):
        linear_probe(features, labels, features, None, features, labels, epochs=1)
    with pytest.raises(ValueError, match="needs a val split"):
        logistic_regression_probe(features, labels, None, None, features, labels)
