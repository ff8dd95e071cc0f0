"""AverageMeter on a sequence of weighted updates."""

from __future__ import annotations

import pytest
import torch

from contrastlab.training.meters import AverageMeter, meter_averages


def test_weighted_running_average() -> None:
    updates = [(2.0, 4), (5.0, 1), (1.0, 3), (0.5, 2)]
    meter = AverageMeter("loss")
    assert (meter.val, meter.avg, meter.sum, meter.count) == (0.0, 0.0, 0.0, 0)
    total, count = 0.0, 0
    for value, n in updates:
        meter.update(value, n)
        total += value * n
        count += n
        assert meter.val == value
        assert meter.sum == pytest.approx(total)
        assert meter.count == count
        assert meter.avg == pytest.approx(total / count)
    meter.reset()
    assert (meter.val, meter.avg, meter.sum, meter.count) == (0.0, 0.0, 0.0, 0)


def test_scalar_tensors_and_default_weight() -> None:
    meter = AverageMeter()
    meter.update(torch.tensor(3.0))
    meter.update(torch.tensor([1.0]))
    assert meter.avg == pytest.approx(2.0)
    assert isinstance(meter.val, float)


def test_meter_averages_skips_empty_meters() -> None:
    meters = {"loss": AverageMeter(), "top1": AverageMeter()}
    meters["loss"].update(1.5, 2)
    assert meter_averages(meters) == {"loss": 1.5}


@pytest.mark.parametrize(
    ("value", "n", "match"),
    [
        (torch.ones(2), 1, "scalar"),
        (1.0, 0, "n must"),
        (1.0, 1.5, "n must"),
        (float("nan"), 1, "finite"),
    ],
)
def test_rejects_bad_updates(value: object, n: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AverageMeter().update(value, n)  # type: ignore[arg-type]
