"""False-alarm and missed-detection rates against a slow count, and the cases with nothing to
measure (None, never 0)."""

from __future__ import annotations

import pytest
import torch

from contrastlab.evaluation.detection_rates import detection_rates, normal_class_index


def slow_rates(predictions: list[int], labels: list[int], normal: int) -> tuple[float, float]:
    normal_windows = [p for p, y in zip(predictions, labels, strict=True) if y == normal]
    faulty_windows = [p for p, y in zip(predictions, labels, strict=True) if y != normal]
    false_alarms = sum(1 for p in normal_windows if p != normal)
    missed = sum(1 for p in faulty_windows if p == normal)
    return false_alarms / len(normal_windows), missed / len(faulty_windows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rates_match_a_slow_count(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (200,), generator=generator)
    predictions = torch.where(
        torch.rand(200, generator=generator) < 0.7,
        labels,
        torch.randint(0, 4, (200,), generator=generator),
    )
    normal = seed % 4
    rates = detection_rates(predictions, labels, normal, 4)
    false_alarm, missed = slow_rates(predictions.tolist(), labels.tolist(), normal)
    assert rates["false_alarm_rate"] == pytest.approx(false_alarm)
    assert rates["missed_detection_rate"] == pytest.approx(missed)
    assert rates["normal_windows"] == int((labels == normal).sum())
    assert rates["normal_windows"] + rates["faulty_windows"] == 200


def test_a_wrong_fault_class_is_not_a_missed_detection() -> None:
    labels = torch.tensor([0, 0, 1, 2, 3, 3])
    predictions = torch.tensor([0, 2, 3, 0, 3, 1])  # one false alarm, one missed, two wrong faults
    rates = detection_rates(predictions, labels, 0, 4)
    assert rates == {
        "false_alarm_rate": 0.5,
        "missed_detection_rate": 0.25,
        "normal_windows": 2,
        "faulty_windows": 4,
    }


def test_nothing_to_measure_is_none() -> None:
    faults_only = detection_rates(torch.tensor([1, 0]), torch.tensor([1, 2]), 0, 3)
    assert faults_only["false_alarm_rate"] is None and faults_only["missed_detection_rate"] == 0.5
    normal_only = detection_rates(torch.tensor([1, 0]), torch.tensor([0, 0]), 0, 3)
    assert normal_only["missed_detection_rate"] is None
    no_normal_class = detection_rates(torch.tensor([1]), torch.tensor([2]), None, 3)
    assert no_normal_class["false_alarm_rate"] is None
    assert no_normal_class["missed_detection_rate"] is None


def test_normal_class_by_name_and_bad_indices() -> None:
    assert normal_class_index(["IR007", "Normal", "B007"]) == 1
    assert normal_class_index(["inner", "outer"]) is None
    with pytest.raises(ValueError, match="predictions must lie in"):
        detection_rates(torch.tensor([5]), torch.tensor([0]), 0, 3)
    with pytest.raises(ValueError, match="predictions"):
        detection_rates(torch.tensor([0, 1]), torch.tensor([0]), 0, 3)
