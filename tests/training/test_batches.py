"""In-memory batches: the order of (seed, epoch), the same as the index batches, on the device."""

from __future__ import annotations

import torch

from contrastlab.data.splits import LabeledTensors
from contrastlab.training.batches import InMemoryBatches, count_batches, epoch_batches


def test_batches_follow_the_index_order_of_their_epoch() -> None:
    data = LabeledTensors(torch.arange(50.0)[:, None], torch.arange(50) % 3)
    batches = InMemoryBatches(data, batch_size=8, seed=4, device=torch.device("cpu"))
    assert len(batches) == count_batches(50, 8) == 6
    for epoch in (1, 2):
        got = list(batches.epoch(epoch))
        expected = list(epoch_batches(50, 8, seed=4, epoch=epoch))
        assert len(got) == len(expected)
        for (inputs, labels), indices in zip(got, expected, strict=True):
            assert torch.equal(inputs[:, 0].long(), indices)
            assert torch.equal(labels, indices % 3)
    first, second = (next(iter(batches.epoch(e)))[0] for e in (1, 2))
    assert not torch.equal(first, second)  # epochs reshuffle


def test_an_empty_set_is_refused() -> None:
    import pytest

    empty = LabeledTensors(torch.zeros(0, 1), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        InMemoryBatches(empty, 4, 0, torch.device("cpu"))
