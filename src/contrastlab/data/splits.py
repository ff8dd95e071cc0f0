"""The in-memory container every data source returns.

A source yields three labelled splits (train / validation / test) of equal-shaped inputs plus the
facts a model needs to be rebuilt for inference (class names, normalisation, sample rate, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class LabeledTensors:
    """``inputs``: [N, ...] (images [N, C, H, W] uint8 or float; signals [N, C, L] float);
    ``labels``: [N] int64 class indices."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.labels.dim() != 1 or self.labels.shape[0] != self.inputs.shape[0]:
            raise ValueError(
                f"labels must be [N] with N = {self.inputs.shape[0]} inputs, "
                f"got shape {tuple(self.labels.shape)}"
            )
        if self.labels.is_floating_point():
            raise ValueError(f"labels must be integers, got {self.labels.dtype}")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def subset(self, indices: torch.Tensor) -> LabeledTensors:
        """The samples at ``indices`` ([K] int64), in that order."""
        return LabeledTensors(self.inputs[indices], self.labels[indices])


@dataclass
class DataSplits:
    """Train / validation / test splits of one data source."""

    train: LabeledTensors
    val: LabeledTensors
    test: LabeledTensors
    class_names: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (C, H, W) or (C, L)."""
        return tuple(self.train.inputs.shape[1:])
