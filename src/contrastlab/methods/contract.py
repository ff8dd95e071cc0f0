"""What a training method is: the contract between a method and the shared training loop.

A *method* turns one batch into a loss; everything else (epochs, schedules, checkpoints, devices,
DDP, logging) is the loop's (:func:`contrastlab.training.loop.fit`). A method is an
``nn.Module`` (so its own parameters, such as CPC's predictors, are optimised, and its state, such
as a MoCo queue or an augmentation's random generator, is checkpointed) with::

    forward(model, inputs [B, ...], labels [B]) -> StepOutput

``model`` is the trained network, possibly wrapped in ``DistributedDataParallel``
(:func:`unwrap_model` gives the network itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn


@dataclass
class StepOutput:
    """What a method returns for one batch.

    Attributes:
        loss: the scalar to minimise (a tensor on the batch's device; never read on the host by
            the method).
        metrics: scalars to log (tensors stay on the device; the loop reads them every
            ``print_freq`` steps).
        batch_size: samples in the batch, the weight of this step in the epoch's averages.
    """

    loss: torch.Tensor
    metrics: dict[str, float | torch.Tensor] = field(default_factory=dict)
    batch_size: int = 1


class Method(Protocol):
    """The protocol a method implements (see the module docstring)."""

    def __call__(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        """Turn one batch into a :class:`StepOutput`."""
        ...


class TrainingDivergedError(ValueError):
    """The loss (or a representation) became NaN or infinite; earlier checkpoints are kept."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside ``DistributedDataParallel`` / ``DataParallel`` / compilation wrappers
    (any module with a true ``wraps_module`` attribute), else ``model`` itself."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    while isinstance(model, wrappers) or getattr(model, "wraps_module", False):
        model = model.module
    return model
