"""LR schedules against SupContrast's closed forms (1-based epochs, 0-based batch index)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from contrastlab.training.schedule import LRSchedule, cosine_lr, step_lr, warmup_lr

LR, RATE, EPOCHS = 0.5, 0.1, 100


def cosine_reference(epoch: float) -> float:
    eta_min = LR * RATE**3
    return eta_min + (LR - eta_min) * (1 + math.cos(math.pi * epoch / EPOCHS)) / 2


def test_cosine_at_closed_form_points() -> None:
    schedule = LRSchedule(LR, EPOCHS, cosine=True, lr_decay_rate=RATE)
    eta_min = LR * RATE**3
    assert schedule.eta_min == pytest.approx(eta_min)
    assert schedule.lr_at(1) == pytest.approx(cosine_reference(1))
    assert schedule.lr_at(EPOCHS // 2) == pytest.approx((LR + eta_min) / 2)  # cos(pi / 2) = 0
    assert schedule.lr_at(EPOCHS) == pytest.approx(eta_min)
    # Per-epoch: every batch of an epoch gets the same value.
    assert (
        schedule.lr_at(30, 0, 7) == schedule.lr_at(30, 6, 7) == pytest.approx(cosine_reference(30))
    )
    # Fractional epochs in the pure function give a per-step cosine.
    assert cosine_lr(LR, 12.5, EPOCHS, RATE) == pytest.approx(cosine_reference(12.5))


def test_step_counts_milestones_passed() -> None:
    schedule = LRSchedule(
        LR, EPOCHS, cosine=False, lr_decay_rate=RATE, lr_decay_epochs=(30, 60, 500)
    )
    expected = {1: LR, 30: LR, 31: LR * RATE, 60: LR * RATE, 61: LR * RATE**2, EPOCHS: LR * RATE**2}
    for epoch, lr in expected.items():
        assert schedule.lr_at(epoch) == pytest.approx(lr), epoch
    assert step_lr(LR, 501, (30, 60, 500), RATE) == pytest.approx(LR * RATE**3)


@pytest.mark.parametrize("cosine", [True, False])
def test_warmup_ramp_and_continuity(cosine: bool) -> None:
    warm_epochs, batches, warmup_from = 10, 8, 0.01
    schedule = LRSchedule(
        LR, EPOCHS, cosine=cosine, lr_decay_rate=RATE, warm=True, warm_epochs=warm_epochs,
        warmup_from=warmup_from,
    )  # fmt: skip
    warmup_to = cosine_reference(warm_epochs) if cosine else LR
    assert schedule.warmup_to == pytest.approx(warmup_to)
    assert schedule.lr_at(1, 0, batches) == pytest.approx(warmup_from)
    # p = (batch + (epoch - 1) * batches) / (warm_epochs * batches)
    p = (3 + 4 * batches) / (warm_epochs * batches)
    assert schedule.lr_at(5, 3, batches) == pytest.approx(
        warmup_from + p * (warmup_to - warmup_from)
    )
    last_warm = schedule.lr_at(warm_epochs, batches - 1, batches)
    step = (warmup_to - warmup_from) / (warm_epochs * batches)
    assert last_warm == pytest.approx(warmup_to - step)
    after = schedule.lr_at(warm_epochs + 1, 0, batches)
    assert after == pytest.approx(cosine_reference(warm_epochs + 1) if cosine else LR)
    assert abs(after - last_warm) < 2 * abs(step) + abs(cosine_reference(11) - cosine_reference(10))
    ramp = [
        schedule.lr_at(e, b, batches) for e in range(1, warm_epochs + 1) for b in range(batches)
    ]
    assert all(later > earlier for earlier, later in itertools.pairwise(ramp))
    assert warmup_lr(1, 0, batches, warm_epochs, warmup_from, warmup_to) == warmup_from


def test_apply_sets_every_param_group() -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(
        [{"params": [model.weight]}, {"params": [model.bias], "lr": 9.0}], lr=1.0
    )
    schedule = LRSchedule(LR, EPOCHS, cosine=True, lr_decay_rate=RATE)
    lr = schedule.apply(optimizer, 40, 2, 5)
    assert lr == pytest.approx(cosine_reference(40))
    assert [group["lr"] for group in optimizer.param_groups] == [lr, lr]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"lr_decay_rate": 0.0}, "lr_decay_rate"),
        ({"lr_decay_rate": 2.0}, "lr_decay_rate"),
        ({"lr_decay_epochs": (10, -1)}, "lr_decay_epochs"),
        ({"warm": True, "warm_epochs": 0}, "warm_epochs"),
        ({"warm": True, "warmup_from": -0.1}, "warmup_from"),
    ],
)
def test_rejects_nonsense(kwargs: dict, match: str) -> None:
    arguments = {"learning_rate": LR, "epochs": EPOCHS, **kwargs}
    with pytest.raises(ValueError, match=match):
        LRSchedule(**arguments)


def test_rejects_out_of_range_steps() -> None:
    schedule = LRSchedule(LR, EPOCHS, cosine=True)
    with pytest.raises(ValueError, match="epoch"):
        schedule.lr_at(0)
    with pytest.raises(ValueError, match="epoch"):
        schedule.lr_at(EPOCHS + 1)
    with pytest.raises(ValueError, match="batch_index"):
        schedule.lr_at(1, 5, 5)
    with pytest.raises(ValueError, match="batches_per_epoch"):
        schedule.lr_at(1, 0, 0)
