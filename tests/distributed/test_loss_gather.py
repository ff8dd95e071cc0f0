"""``gather_distributed=True`` in a user's own DDP script: two gloo processes, each holding half of
the batch, against one process holding all of it.

Each rank computes the loss of the global batch, so the losses are equal; the gather's backward
sums every rank's gradient for a rank's rows, so a rank's input gradient is W times the
single-process one, which DDP's averaging of the parameter gradients (divide by W) turns back into
it. One spawned run covers every loss, and the shape check of the gather (run once per new local
shape, or on every call with ``validate=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from ddp_harness import local_slice, run_ranks

from contrastlab import collectives
from contrastlab.losses import (
    BatchTripletLoss,
    InfoNCE,
    NTXentLoss,
    PairwiseContrastiveLoss,
    SupConLoss,
)

pytestmark = pytest.mark.distributed

WORLD_SIZE = 2


def _global_batch() -> dict[str, torch.Tensor]:
    """Inputs of the global batch of 8 samples; every sample has a positive."""
    generator = torch.Generator().manual_seed(5)
    return {
        "views": F.normalize(torch.randn(8, 2, 6, generator=generator), dim=-1),
        "labels": torch.tensor([0, 1, 2, 0, 1, 3, 3, 2]),
        "negatives": torch.randn(8, 3, 6, generator=generator),
    }


CASES: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[dict], tuple]]] = {
    "supcon": (
        lambda: SupConLoss(temperature=0.1, gather_distributed=True),
        lambda batch: (batch["views"], batch["labels"]),
    ),
    "supcon_one_none": (
        lambda: SupConLoss(contrast_mode="one", reduction="none", gather_distributed=True),
        lambda batch: (batch["views"], batch["labels"]),
    ),
    "ntxent": (
        lambda: NTXentLoss(0.2, gather_distributed=True),
        lambda batch: (batch["views"][:, 0], batch["views"][:, 1]),
    ),
    "info_nce": (
        lambda: InfoNCE(0.1, gather_distributed=True),
        lambda batch: (batch["views"][:, 0], batch["views"][:, 1]),
    ),
    "info_nce_per_query": (
        lambda: InfoNCE(0.1, gather_distributed=True),
        lambda batch: (batch["views"][:, 0], batch["views"][:, 1], batch["negatives"]),
    ),
    "triplet_batch_hard": (
        lambda: BatchTripletLoss(0.3, mining="batch_hard", gather_distributed=True),
        lambda batch: (batch["views"][:, 0], batch["labels"]),
    ),
    "pairwise_contrastive": (
        lambda: PairwiseContrastiveLoss(0.8, gather_distributed=True),
        lambda batch: (batch["views"][:, 1], batch["labels"]),
    ),
}


def _loss_and_input_grads(name: str, batch: dict[str, torch.Tensor]) -> dict:
    make_loss, make_args = CASES[name]
    args = [
        arg.clone().requires_grad_(True) if arg.is_floating_point() else arg
        for arg in make_args(batch)
    ]
    loss = make_loss()(*args)
    loss.sum().backward()
    return {"loss": loss.detach(), "grads": [a.grad for a in args if a.is_floating_point()]}


def _count_all_gathers(calls: list[int]) -> None:
    gather = collectives._all_gather_single

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return gather(*args, **kwargs)

    collectives._all_gather_single = counting


def _shape_checks(rank: int) -> dict[str, object]:
    """All-gather counts of repeated gathers (1 per data gather, +1 per shape check)."""
    calls: list[int] = []
    _count_all_gathers(calls)
    counts = {}
    for label, shape, validate in [
        ("first", (3, 2), False),
        ("again", (3, 2), False),
        ("again, validate", (3, 2), True),
        ("new shape", (4, 2), False),
    ]:
        before = len(calls)
        collectives.gather_with_grad(torch.zeros(shape), validate=validate)
        counts[label] = len(calls) - before
    try:  # a shape no rank has seen, different on each rank: every rank raises
        collectives.gather_no_grad(torch.zeros(5 + rank, 2))
        counts["mismatch"] = "no error"
    except ValueError as error:
        counts["mismatch"] = str(error)
    return counts


def _worker(out_dir: str) -> None:
    batch = {key: local_slice(value) for key, value in _global_batch().items()}
    results: dict[str, object] = {name: _loss_and_input_grads(name, batch) for name in CASES}
    results["shape_checks"] = _shape_checks(collectives.rank())
    torch.save(results, Path(out_dir) / f"rank{collectives.rank()}.pt")


@pytest.fixture(scope="module")
def per_rank(tmp_path_factory) -> list[dict]:
    out_dir = tmp_path_factory.mktemp("loss_gather")
    run_ranks(_worker, str(out_dir), world_size=WORLD_SIZE)
    return [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]


@pytest.mark.parametrize("name", list(CASES))
def test_each_rank_gets_the_single_process_loss_and_gradient(per_rank, name):
    # Without a process group gather_distributed changes nothing: the single-process reference.
    reference = _loss_and_input_grads(name, _global_batch())
    rows = 8 // WORLD_SIZE
    for rank, results in enumerate(per_rank):
        torch.testing.assert_close(results[name]["loss"], reference["loss"], rtol=0, atol=1e-6)
        for got, expected in zip(results[name]["grads"], reference["grads"], strict=True):
            own_rows = expected[rank * rows : (rank + 1) * rows]
            assert own_rows.abs().sum() > 0
            torch.testing.assert_close(got / WORLD_SIZE, own_rows, rtol=0, atol=1e-6)


def test_the_shape_check_runs_once_per_new_shape_or_on_request(per_rank):
    for results in per_rank:
        checks = results["shape_checks"]
        assert checks["first"] == 2 and checks["again"] == 1
        assert checks["again, validate"] == 2 and checks["new shape"] == 2
        assert "same shape" in checks["mismatch"]
        assert "rank 0: (5, 2), rank 1: (6, 2)" in checks["mismatch"]
