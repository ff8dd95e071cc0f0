"""Where the loop's batches come from: a :class:`BatchSource` gives one epoch's batches.

:class:`InMemoryBatches` serves a data set held in memory (digits, CIFAR, signal windows). The
order depends only on ``(seed, epoch)``, so a resumed run sees the batches an uninterrupted one
would. When the set is small enough (``device_budget_bytes``) it is copied to the training
device once, and every batch is gathered there: no host-to-device copy per step. Otherwise each
batch is gathered on the host into pinned memory and copied without blocking.

Under DDP each global batch of ``batch_size * world_size`` indices is split into contiguous
per-rank slices (rank r takes the r-th), so the gathered global batch equals what one process
with the full batch would see.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

import torch

from contrastlab.data.splits import LabeledTensors
from contrastlab.training import distributed

DEFAULT_DEVICE_BUDGET_BYTES = 2 << 30


class BatchSource(Protocol):
    """What :func:`contrastlab.training.loop.fit` trains on."""

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank)."""
        ...

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The ``(inputs, labels)`` batches of ``epoch`` (1-based), on the training device."""
        ...


def epoch_order(n_samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch ``epoch``: a function of ``(seed, epoch)`` only."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n_samples, generator=generator)


def epoch_batches(
    n_samples: int, batch_size: int, seed: int, epoch: int, drop_last: bool = True
) -> Iterator[torch.Tensor]:
    """Index batches of one epoch for this process (see the module docstring).

    A set smaller than one global batch is one batch of everything that divides evenly.
    """
    world, rank = distributed.world_size(), distributed.rank()
    order = epoch_order(n_samples, seed, epoch)
    global_batch = batch_size * world
    n_full = n_samples // global_batch
    if n_full == 0:
        per_rank = n_samples // world
        if per_rank == 0:
            raise ValueError(f"{n_samples} training samples cannot be split over {world} processes")
        yield order[rank * per_rank : (rank + 1) * per_rank]
        return
    stop = n_full * global_batch if drop_last else n_samples
    for start in range(0, stop, global_batch):
        chunk = order[start : start + global_batch]
        per_rank = len(chunk) // world
        yield chunk[rank * per_rank : (rank + 1) * per_rank]


def count_batches(n_samples: int, batch_size: int, drop_last: bool = True) -> int:
    """Batches per epoch of :func:`epoch_batches`."""
    global_batch = batch_size * distributed.world_size()
    n_full = n_samples // global_batch
    if n_full == 0:
        return 1
    return n_full if drop_last else math.ceil(n_samples / global_batch)


class InMemoryBatches:
    """Batches of an in-memory :class:`LabeledTensors` on ``device`` (module docstring)."""

    def __init__(
        self,
        data: LabeledTensors,
        batch_size: int,
        seed: int,
        device: torch.device,
        device_budget_bytes: int = DEFAULT_DEVICE_BUDGET_BYTES,
    ) -> None:
        if len(data) == 0:
            raise ValueError("cannot train on an empty training set")
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.n_samples = len(data)
        size = data.inputs.element_size() * data.inputs.numel()
        on_device = device.type != "cpu" and size <= device_budget_bytes
        self.inputs = data.inputs.to(device) if on_device else data.inputs
        self.labels = data.labels.to(device) if on_device else data.labels
        self.pin = device.type == "cuda" and not on_device

    def __len__(self) -> int:
        return count_batches(self.n_samples, self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = list(epoch_batches(self.n_samples, self.batch_size, self.seed, epoch))
        order = torch.cat(batches)
        if self.inputs.device.type == "cuda":  # the epoch's order in one copy, not one per step
            order = order.pin_memory().to(self.inputs.device, non_blocking=True)
        for indices in torch.split(order, [len(batch) for batch in batches]):
            inputs, labels = self.inputs[indices], self.labels[indices]
            if self.pin:
                inputs, labels = inputs.pin_memory(), labels.pin_memory()
            yield (
                inputs.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True),
            )
