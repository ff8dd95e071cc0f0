"""SupCon against a labelled queue: a slow loop reference, gradients, no host synchronisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlab._host_sync import HostSyncCounter
from contrastlab.losses.supervised_queue import supervised_queue_loss

DIM = 6


def unit(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, DIM, generator=generator, dtype=dtype), dim=1)


def slow_supervised_queue_loss(query, key, labels, queue, queue_labels, temperature):
    """Explicit loops: positives = own key + same-label queue entries; denominator = own key +
    the whole queue."""
    losses = []
    for i in range(query.shape[0]):
        own = float(query[i] @ key[i]) / temperature
        logits = [own] + [float(query[i] @ queue[j]) / temperature for j in range(len(queue))]
        positives = [own] + [
            float(query[i] @ queue[j]) / temperature
            for j in range(len(queue))
            if int(queue_labels[j]) == int(labels[i])
        ]
        log_denominator = math.log(sum(math.exp(value) for value in logits))
        losses.append(log_denominator - sum(positives) / len(positives))
    return torch.tensor(losses, dtype=torch.float64)


@pytest.mark.parametrize("memory", ["dense", "blocked"])
def test_supervised_queue_loss_matches_slow_loop(memory):
    query, key, queue = unit(5, 0), unit(5, 1), unit(11, 2)
    labels = torch.tensor([0, 1, 1, 2, 3])
    queue_labels = torch.tensor([0, 1, -1, 1, 2, 0, -1, 4, 1, 2, 0])  # class 3: own key only
    expected = slow_supervised_queue_loss(query, key, labels, queue, queue_labels, 0.2)
    losses, own_key_wins = supervised_queue_loss(
        query, key, labels, queue, queue_labels, 0.2, memory=memory
    )
    torch.testing.assert_close(losses, expected, rtol=1e-12, atol=1e-12)
    best_queue = (query @ queue.T).amax(dim=1)
    assert torch.equal(own_key_wins, (query * key).sum(dim=1) > best_queue)


def test_supervised_queue_loss_gradcheck():
    query = unit(4, 3).requires_grad_(True)
    key, queue = unit(4, 4), unit(7, 5)
    labels, queue_labels = torch.tensor([0, 1, 0, 2]), torch.tensor([0, 0, 1, -1, 2, 1, 0])
    assert torch.autograd.gradcheck(
        lambda q: supervised_queue_loss(q, key, labels, queue, queue_labels, 0.3)[0], (query,)
    )


def test_unsorted_labels_and_absent_classes() -> None:
    """Slots follow the labels' values, not their order; queue classes absent from the batch and
    batch classes absent from the queue are both handled."""
    query, key, queue = unit(6, 7), unit(6, 8), unit(9, 9)
    labels = torch.tensor([9, 3, 9, 0, 5, 3])
    queue_labels = torch.tensor([3, 4, 9, 9, -1, 7, 0, 3, 3])
    expected = slow_supervised_queue_loss(query, key, labels, queue, queue_labels, 0.5)
    losses, _ = supervised_queue_loss(query, key, labels, queue, queue_labels, 0.5)
    torch.testing.assert_close(losses, expected, rtol=1e-12, atol=1e-12)


def test_no_host_synchronisation() -> None:
    query = unit(8, 1, torch.float32).requires_grad_(True)
    key, queue = unit(8, 2, torch.float32), unit(32, 3, torch.float32)
    labels, queue_labels = torch.randint(0, 4, (8,)), torch.randint(-1, 4, (32,))
    with HostSyncCounter() as syncs:
        losses, _ = supervised_queue_loss(query, key, labels, queue, queue_labels, 0.2)
        losses.mean().backward()
    assert syncs.count == 0, syncs.operations
