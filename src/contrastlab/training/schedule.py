"""Learning-rate schedules of SupContrast (``util.adjust_learning_rate``, ``warmup_learning_rate``).

Convention, shared by every function here and by :class:`LRSchedule`:

- ``epoch`` is **1-based**, as in SupContrast's ``for epoch in range(1, opt.epochs + 1)``: the first
  epoch is 1 and the last is ``epochs``.
- ``batch_index`` is **0-based** within the epoch, in ``[0, batches_per_epoch)``.

The decay (cosine or step) is set once per epoch; the optional linear warm-up is set per step and
overrides the decay during epochs ``1 .. warm_epochs``:

- cosine: ``eta_min = lr * decay_rate**3``;
  ``lr_e = eta_min + (lr - eta_min) * (1 + cos(pi * e / epochs)) / 2``, so ``lr_epochs = eta_min``;
- step: ``lr_e = lr * decay_rate**m`` with ``m`` the number of milestones ``d`` in
  ``lr_decay_epochs`` with ``e > d`` (the decay takes effect in the epoch after the milestone);
- warm-up (``e <= warm_epochs``): ``p = (batch_index + (e - 1) * batches_per_epoch) /
  (warm_epochs * batches_per_epoch)`` and ``lr = warmup_from + p * (warmup_to - warmup_from)``,
  where ``warmup_to`` is the cosine value at epoch ``warm_epochs`` (cosine) or ``lr`` (step): the
  ramp reaches ``warmup_to`` (to within one step) at the end of epoch ``warm_epochs``, next to the
  decayed value of epoch ``warm_epochs + 1`` that follows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from contrastlab._checks import check_int, check_positive
from contrastlab.config.training import TrainConfig


def cosine_lr(learning_rate: float, epoch: float, epochs: int, decay_rate: float) -> float:
    """SupContrast cosine annealing.

    ``eta_min = learning_rate * decay_rate**3`` and
    ``lr = eta_min + (learning_rate - eta_min) * (1 + cos(pi * epoch / epochs)) / 2``.
    ``epoch`` may be fractional (e.g. ``e - 1 + batch_index / batches_per_epoch``) for a per-step
    cosine; :class:`LRSchedule` uses whole epochs, as SupContrast does.
    """
    eta_min = learning_rate * decay_rate**3
    return eta_min + (learning_rate - eta_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def step_lr(
    learning_rate: float, epoch: float, decay_epochs: Sequence[int], decay_rate: float
) -> float:
    """Step decay: ``learning_rate * decay_rate**m``, ``m = #{d in decay_epochs : epoch > d}``."""
    milestones_passed = sum(1 for milestone in decay_epochs if epoch > milestone)
    return learning_rate * decay_rate**milestones_passed


def warmup_lr(
    epoch: int,
    batch_index: int,
    batches_per_epoch: int,
    warm_epochs: int,
    warmup_from: float,
    warmup_to: float,
) -> float:
    """Linear warm-up ``warmup_from + p * (warmup_to - warmup_from)`` with
    ``p = (batch_index + (epoch - 1) * batches_per_epoch) / (warm_epochs * batches_per_epoch)``
    (1-based ``epoch``, 0-based ``batch_index``): ``p = 0`` at the first step of epoch 1."""
    progress = (batch_index + (epoch - 1) * batches_per_epoch) / (warm_epochs * batches_per_epoch)
    return warmup_from + progress * (warmup_to - warmup_from)


@dataclass
class LRSchedule:
    """The SupContrast schedule (``--learning_rate --epochs --cosine --lr_decay_rate
    --lr_decay_epochs --warm``) as data. See the module docstring for the formulas and the
    1-based epoch convention.

    ``lr_decay_epochs`` are only used when ``cosine`` is False; milestones beyond ``epochs`` are
    allowed (they never fire). ``warm_epochs`` and ``warmup_from`` are only used when ``warm``;
    a run shorter than ``warm_epochs`` warms up all along, as SupContrast's does.
    """

    learning_rate: float
    epochs: int
    cosine: bool = False
    lr_decay_rate: float = 0.1
    lr_decay_epochs: Sequence[int] = field(default_factory=lambda: (700, 800, 900))
    warm: bool = False
    warm_epochs: int = 10
    warmup_from: float = 0.01

    def __post_init__(self) -> None:
        check_positive("learning_rate", self.learning_rate)
        check_int("epochs", self.epochs)
        if not (isinstance(self.lr_decay_rate, (int, float)) and 0 < self.lr_decay_rate <= 1):
            raise ValueError(f"lr_decay_rate must be in (0, 1], got {self.lr_decay_rate!r}")
        self.lr_decay_epochs = tuple(self.lr_decay_epochs)
        for milestone in self.lr_decay_epochs:
            check_int("each of lr_decay_epochs", milestone, minimum=0)
        if self.warm:
            check_int("warm_epochs", self.warm_epochs)
            if not (isinstance(self.warmup_from, (int, float)) and self.warmup_from >= 0):
                raise ValueError(f"warmup_from must be a number >= 0, got {self.warmup_from!r}")

    @classmethod
    def from_config(cls, config: TrainConfig) -> LRSchedule:
        """The schedule of a run's options (``--learning_rate --epochs --cosine ...``)."""
        return cls(
            learning_rate=config.learning_rate,
            epochs=config.epochs,
            cosine=config.cosine,
            lr_decay_rate=config.lr_decay_rate,
            lr_decay_epochs=config.decay_epochs(),
            warm=config.warm,
            warm_epochs=config.warm_epochs,
            warmup_from=config.warmup_from,
        )

    @property
    def eta_min(self) -> float:
        """Final cosine learning rate ``learning_rate * lr_decay_rate**3``."""
        return self.learning_rate * self.lr_decay_rate**3

    @property
    def warmup_to(self) -> float:
        """Where the warm-up ends: the cosine value at epoch ``warm_epochs``, or ``learning_rate``
        for the step schedule (as in SupContrast's ``main_supcon.py``)."""
        if self.cosine:
            return cosine_lr(self.learning_rate, self.warm_epochs, self.epochs, self.lr_decay_rate)
        return self.learning_rate

    def decayed_lr(self, epoch: int) -> float:
        """The per-epoch value (cosine or step), without warm-up; ``epoch`` is 1-based."""
        check_int("epoch", epoch)
        if self.cosine:
            return cosine_lr(self.learning_rate, epoch, self.epochs, self.lr_decay_rate)
        return step_lr(self.learning_rate, epoch, self.lr_decay_epochs, self.lr_decay_rate)

    def lr_at(self, epoch: int, batch_index: int = 0, batches_per_epoch: int = 1) -> float:
        """Learning rate at step ``batch_index`` (0-based) of ``epoch`` (1-based, ``<= epochs``)."""
        check_int("epoch", epoch)
        if epoch > self.epochs:
            raise ValueError(f"epoch must be in [1, {self.epochs}] (1-based), got {epoch}")
        check_int("batches_per_epoch", batches_per_epoch)
        check_int("batch_index", batch_index, minimum=0)
        if batch_index >= batches_per_epoch:
            raise ValueError(
                f"batch_index must be in [0, {batches_per_epoch}) (0-based), got {batch_index}"
            )
        if self.warm and epoch <= self.warm_epochs:
            return warmup_lr(
                epoch,
                batch_index,
                batches_per_epoch,
                self.warm_epochs,
                self.warmup_from,
                self.warmup_to,
            )
        return self.decayed_lr(epoch)

    def apply(
        self,
        optimizer: torch.optim.Optimizer,
        epoch: int,
        batch_index: int = 0,
        batches_per_epoch: int = 1,
    ) -> float:
        """Set ``lr`` of every parameter group of ``optimizer`` to :meth:`lr_at`; return it.

        Call it before every optimisation step (cheap): it gives the per-epoch decay and the
        per-step warm-up in one place.
        """
        lr = self.lr_at(epoch, batch_index, batches_per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr
