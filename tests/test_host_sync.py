"""The host-synchronisation counter finds the operations that make a GPU wait, on the CPU."""

from __future__ import annotations

import torch

from contrastlab._host_sync import HostSyncCounter


def test_value_reads_and_data_dependent_shapes_are_counted() -> None:
    x = torch.randn(8)
    with HostSyncCounter() as syncs:
        x.sum().item()
        float(x.max())
        torch.nonzero(x > 0)
        x[x > 0]
        torch.unique(x)
        x.masked_select(x > 0)
        torch.repeat_interleave(torch.tensor([1, 2]))
        bool(x.sum() > 0)
    assert syncs.operations["_local_scalar_dense"] >= 3
    assert syncs.operations["nonzero"] >= 1
    assert syncs.operations["index"] == 1
    assert syncs.operations["masked_select"] == 1
    assert syncs.operations["repeat_interleave"] == 1
    assert any(name.startswith("_unique") or name == "unique" for name in syncs.operations)


def test_batched_maths_is_not_counted() -> None:
    x = torch.randn(16, 4, requires_grad=True)
    labels = torch.randint(0, 3, (16,))
    with HostSyncCounter() as syncs:
        mask = labels[:, None] == labels[None, :]
        logits = (x @ x.T).masked_fill(~mask, -1e9)
        loss = torch.logsumexp(logits, dim=1).mean() + torch.where(mask, 1.0, 0.0).sum()
        loss.backward()
        torch.repeat_interleave(x, 2, dim=0)
        x.detach()[torch.tensor([0, 3])]
    assert syncs.count == 0, syncs.operations
