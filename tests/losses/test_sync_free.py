"""Forward + backward of the losses read no value on the host, and their operation count does not
grow with the batch (what keeps a GPU's launch queue full).

``HostSyncCounter`` finds, on the CPU, the operations that would make the host wait for a GPU;
``OpCounter`` counts the operations that would each launch a kernel. Row blocks are made small
(``small_blocks``) so that the blocked routes run several blocks.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from op_counter import OpCounter

from contrastlab._host_sync import HostSyncCounter
from contrastlab.distances import CosineSimilarity
from contrastlab.losses import (
    BatchTripletLoss,
    CPCLoss,
    HierarchicalContrastiveLoss,
    InfoNCE,
    NTXentLoss,
    PairwiseContrastiveLoss,
    SupConLoss,
    _logsumexp,
    contrastive_loss,
    nce_loss,
    triplet_loss,
)
from contrastlab.losses._logsumexp import MEMORY_MODES


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_logsumexp, "_BLOCK_ELEMENTS", 64)
    monkeypatch.setattr(_logsumexp, "_TILE_ELEMENTS", 64)


def unit_features(*shape, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=generator, dtype=dtype), dim=-1)


def syncs_of(step) -> HostSyncCounter:
    """Run forward + backward of ``step`` (which returns the loss) under a HostSyncCounter."""
    with HostSyncCounter() as syncs:
        loss = step()
        loss = loss[0] if isinstance(loss, tuple) else loss
        loss.sum().backward()
    return syncs


def assert_sync_free(step) -> None:
    syncs = syncs_of(step)
    assert syncs.count == 0, syncs.operations


@pytest.mark.parametrize("memory", MEMORY_MODES)
@pytest.mark.parametrize("contrast_mode", ["all", "one"])
@pytest.mark.parametrize("supervision", ["labels", "mask", "none"])
def test_supcon_reads_nothing_on_the_host(small_blocks, memory, contrast_mode, supervision):
    x = unit_features(12, 2, 8).requires_grad_(True)
    extra = {
        "labels": {"labels": torch.tensor([3, -1, 3, 7, 7, 0, 3, 1, 1, 100, 0, 7])},
        "mask": {"mask": (torch.rand(12, 12, generator=torch.Generator().manual_seed(1)) > 0.6)},
        "none": {},
    }[supervision]
    loss = SupConLoss(temperature=0.1, contrast_mode=contrast_mode, memory=memory)
    for reduction in ("mean", "none"):
        loss.reduction = reduction
        assert_sync_free(lambda: loss(x, **extra))


@pytest.mark.parametrize("memory", MEMORY_MODES)
@pytest.mark.parametrize("n_views", [2, 3])
def test_ntxent_reads_nothing_on_the_host(small_blocks, memory, n_views):
    views = [unit_features(10, 16, seed=v).requires_grad_(True) for v in range(n_views)]
    assert_sync_free(lambda: NTXentLoss(0.2, memory=memory)(*views))


@pytest.mark.parametrize("memory", MEMORY_MODES)
@pytest.mark.parametrize("layout", ["in-batch", "shared", "per-query"])
def test_info_nce_reads_nothing_on_the_host(small_blocks, memory, layout):
    query = unit_features(9, 8, seed=1).requires_grad_(True)
    key = unit_features(9, 8, seed=2).requires_grad_(True)
    negatives = {
        "in-batch": None,
        "shared": unit_features(13, 8),
        "per-query": unit_features(9, 4, 8),
    }
    loss = InfoNCE(0.1, memory=memory, return_accuracy=True)
    assert_sync_free(lambda: loss(query, key, negatives[layout]))


def test_half_precision_under_autocast_reads_nothing_on_the_host():
    x = unit_features(16, 2, 32).to(torch.bfloat16).requires_grad_(True)
    labels = torch.arange(16) % 4
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert_sync_free(lambda: SupConLoss(temperature=0.05)(x, labels))


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard", "semi_hard"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mined_triplet_loss_reads_nothing_on_the_host(mining, reduction):
    x = unit_features(12, 6).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2, 3, 3, 4])
    for distance in (None, CosineSimilarity()):
        loss = BatchTripletLoss(0.5, distance=distance, mining=mining, reduction=reduction)
        assert_sync_free(lambda loss=loss: loss(x, labels))


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard", "semi_hard"])
def test_unchecked_nan_embeddings_give_a_nan_triplet_loss(mining):
    x = unit_features(8, 4)
    x[2, 1] = float("nan")
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    assert torch.isnan(BatchTripletLoss(0.2, mining=mining)(x, labels))
    with pytest.raises(ValueError, match="NaN or inf"):
        BatchTripletLoss(0.2, mining=mining, validate=True)(x, labels)


def test_pair_losses_read_nothing_on_the_host():
    a, p, n = (unit_features(7, 5, seed=s).requires_grad_(True) for s in range(3))
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    assert_sync_free(lambda: triplet_loss(a, p, n, margin=0.3))
    assert_sync_free(lambda: contrastive_loss(a, p, y, margin=0.5))
    assert_sync_free(lambda: PairwiseContrastiveLoss(0.5)(a, y))


def test_hierarchical_loss_reads_nothing_on_the_host():
    z1, z2 = (unit_features(3, 9, 4, seed=s).requires_grad_(True) for s in range(2))
    assert_sync_free(lambda: HierarchicalContrastiveLoss(alpha=0.3)(z1, z2))


def test_nce_and_cpc_read_nothing_on_the_host():
    generator = torch.Generator().manual_seed(3)
    data = torch.randn(6, generator=generator, requires_grad=True)
    noise = torch.randn(6, 4, generator=generator, requires_grad=True)
    assert_sync_free(lambda: nce_loss(data, noise, torch.zeros(6), torch.zeros(6, 4)))
    cpc = CPCLoss(context_dim=5, latent_dim=3, prediction_steps=2, n_negatives=4, max_anchors=5)
    z = torch.randn(3, 6, 3, generator=generator, requires_grad=True)
    context = torch.randn(3, 6, 5, generator=generator, requires_grad=True)
    assert_sync_free(lambda: cpc(z, context, generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("memory", MEMORY_MODES)
def test_unchecked_nan_features_give_a_nan_loss_and_validate_catches_them(memory):
    x = unit_features(6, 2, 8)
    x[0, 0, 0] = float("nan")
    labels = torch.arange(6) % 3
    losses = {
        "supcon": lambda validate: SupConLoss(memory=memory, validate=validate)(x, labels),
        "ntxent": lambda validate: NTXentLoss(memory=memory, validate=validate)(x),
        "info_nce": lambda validate: InfoNCE(memory=memory, validate=validate)(x[:, 0], x[:, 1]),
    }
    for name, loss in losses.items():
        assert torch.isnan(loss(False)), name  # no host read: the NaN propagates, never a 0
        with pytest.raises(ValueError, match="NaN or inf"):
            loss(True)
    clean = x.nan_to_num().requires_grad_(True)
    assert syncs_of(lambda: SupConLoss(validate=True)(clean, labels)).count > 0


def test_the_cpu_symmetric_tiles_read_one_flag(monkeypatch):
    # The documented exception: on the CPU (where it costs nothing) the symmetric tiles read
    # whether any row needs their exact fallback.
    monkeypatch.setattr(_logsumexp, "SYMMETRIC_TILES_MIN_ROWS", 1)
    x = unit_features(12, 2, 8).requires_grad_(True)
    syncs = syncs_of(lambda: SupConLoss(temperature=0.1)(x, torch.arange(12) % 3))
    assert syncs.count == 1, syncs.operations


def operations(step) -> int:
    with OpCounter() as counter:
        loss = step()
        loss = loss[0] if isinstance(loss, tuple) else loss
        loss.backward()
    return counter.count


@pytest.mark.parametrize("memory", ["auto", "dense"])
def test_operation_count_does_not_grow_with_the_batch(memory):
    counts: dict[str, set[int]] = {}
    for batch in (8, 64, 512):
        x = unit_features(batch, 2, 16).requires_grad_(True)
        labels = torch.arange(batch) % 5
        steps = {
            "supcon labels": lambda x=x, labels=labels: SupConLoss(0.1, memory=memory)(x, labels),
            "supcon one": lambda x=x, labels=labels: SupConLoss(
                0.1, contrast_mode="one", memory=memory
            )(x, labels),
            "ntxent": lambda x=x: NTXentLoss(0.1, memory=memory)(x),
            "info_nce": lambda x=x: InfoNCE(0.1, memory=memory)(x[:, 0], x[:, 1]),
        }
        for name, step in steps.items():
            counts.setdefault(name, set()).add(operations(step))
    assert all(len(found) == 1 for found in counts.values()), counts
