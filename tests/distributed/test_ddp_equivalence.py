"""Two gloo processes against one process on the same global batch: loss and every gradient agree.

The network has batch norm, converted to ``SyncBatchNorm`` on the two ranks (so its statistics are
the global batch's, as in the single process) and wrapped in DDP (which averages gradients). Each
known way of getting the gather wrong is run too, to show the comparison catches it:

* own shard first: the gathered embeddings start with this rank's, out of step with the gathered
  labels (a wrong rank offset); SupCon's loss on rank 1 and the gradients change.
* gather without gradient (``dist.all_gather``): other ranks' embeddings are constants; same loss,
  wrong gradients.
* backward without the cross-rank sum: same loss, gradients exactly 1 / world_size too small (the
  "multiply the loss by the world size" bug).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from ddp_harness import (
    FEAT_DIM,
    AlternatingFlip,
    gradients,
    local_slice,
    make_batch,
    make_model,
    run_ranks,
)
from torch import nn

import contrastlab.methods.contrastive_views as contrastive_views
import contrastlab.methods.moco as moco
from contrastlab.methods import ContrastiveViewsMethod, MoCoMethod
from contrastlab.training import distributed

pytestmark = pytest.mark.distributed

WORLD_SIZE = 2
TOLERANCE = {"rtol": 0.0, "atol": 1e-5}


def _own_shard_first(tensor: torch.Tensor) -> torch.Tensor:
    gathered = distributed.gather_with_grad(tensor)
    rows, rank = tensor.shape[0], distributed.rank()
    own = slice(rank * rows, (rank + 1) * rows)
    others = torch.cat([gathered[: own.start], gathered[own.stop :]])
    return torch.cat([gathered[own], others])


def _gather_without_grad(tensor: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(tensor) for _ in range(distributed.world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[distributed.rank()] = tensor  # the usual patch: only the local part keeps its gradient
    return torch.cat(parts)


class _GatherLocalBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor):
        ctx.rows = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(distributed.world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        rank = distributed.rank()
        return grad[rank * ctx.rows : (rank + 1) * ctx.rows]  # no sum over ranks


GATHERS = {
    "correct": distributed.gather_with_grad,
    "own_shard_first": _own_shard_first,
    "gather_without_grad": _gather_without_grad,
    "backward_without_sum": _GatherLocalBackward.apply,
}


def _view_step(model: nn.Module, method_name: str, inputs, labels) -> tuple[torch.Tensor, dict]:
    method = ContrastiveViewsMethod(AlternatingFlip(), method=method_name, temperature=0.1)
    output = method(model, inputs, labels)
    output.loss.backward()
    return output.loss.detach(), gradients(model)


def _view_methods_worker(out_dir: str) -> None:
    inputs, labels = make_batch()
    results = {}
    for method_name in ("supcon", "simclr"):
        for variant, gather in GATHERS.items():
            contrastive_views.gather_with_grad = gather
            model = distributed.convert_sync_batchnorm(make_model())
            wrapped = nn.parallel.DistributedDataParallel(model)
            loss, grads = _view_step(wrapped, method_name, local_slice(inputs), local_slice(labels))
            results[method_name, variant] = {
                "loss": loss,
                "grads": grads,
                "running_var": model.encoder.features[0][1].running_var.clone(),
            }
    try:  # ranks with different batch sizes: a clear error on every rank, not a hang
        distributed.gather_with_grad(torch.zeros(distributed.rank() + 1, 3))
        results["mismatch"] = "no error"
    except ValueError as error:
        results["mismatch"] = str(error)
    torch.save(results, Path(out_dir) / f"rank{distributed.rank()}.pt")


@pytest.fixture(scope="module")
def view_results(tmp_path_factory) -> tuple[dict, list[dict]]:
    out_dir = tmp_path_factory.mktemp("ddp_views")
    run_ranks(_view_methods_worker, str(out_dir), world_size=WORLD_SIZE)
    per_rank = [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]
    inputs, labels = make_batch()
    reference = {}
    for method_name in ("supcon", "simclr"):
        model = make_model()
        loss, grads = _view_step(model, method_name, inputs, labels)
        running_var = model.encoder.features[0][1].running_var.clone()
        reference[method_name] = {"loss": loss, "grads": grads, "running_var": running_var}
    return reference, per_rank


def _assert_grads_close(actual: dict, expected: dict, scale: float = 1.0) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name] * scale, **TOLERANCE, msg=name)


def _grads_differ(actual: dict, expected: dict) -> bool:
    return any(
        not torch.allclose(actual[name], expected[name], rtol=0, atol=1e-4) for name in expected
    )


@pytest.mark.parametrize("method_name", ["supcon", "simclr"])
def test_two_processes_equal_one_process_on_the_global_batch(view_results, method_name):
    reference, per_rank = view_results
    expected = reference[method_name]
    assert expected["loss"] > 0
    for results in per_rank:
        got = results[method_name, "correct"]
        torch.testing.assert_close(got["loss"], expected["loss"], **TOLERANCE)
        _assert_grads_close(got["grads"], expected["grads"])
        # SyncBatchNorm's running statistics are those of the whole global batch.
        torch.testing.assert_close(got["running_var"], expected["running_var"], **TOLERANCE)


def test_wrong_rank_offset_is_caught(view_results):
    # SupCon only: SimCLR's loss is invariant to reordering whole samples, labels are what the
    # offset must keep in step with the embeddings.
    reference, per_rank = view_results
    expected = reference["supcon"]
    rank0, rank1 = (results["supcon", "own_shard_first"] for results in per_rank)
    torch.testing.assert_close(rank0["loss"], expected["loss"], **TOLERANCE)  # rank 0 is first
    assert abs(float(rank1["loss"]) - float(expected["loss"])) > 1e-3
    assert _grads_differ(rank0["grads"], expected["grads"])


@pytest.mark.parametrize("method_name", ["supcon", "simclr"])
def test_gather_without_gradient_is_caught(view_results, method_name):
    reference, per_rank = view_results
    expected = reference[method_name]
    for results in per_rank:
        got = results[method_name, "gather_without_grad"]
        torch.testing.assert_close(got["loss"], expected["loss"], **TOLERANCE)
        assert _grads_differ(got["grads"], expected["grads"])


@pytest.mark.parametrize("method_name", ["supcon", "simclr"])
def test_backward_without_cross_rank_sum_is_off_by_the_world_size(view_results, method_name):
    reference, per_rank = view_results
    expected = reference[method_name]
    for results in per_rank:
        got = results[method_name, "backward_without_sum"]
        torch.testing.assert_close(got["loss"], expected["loss"], **TOLERANCE)
        assert _grads_differ(got["grads"], expected["grads"])
        _assert_grads_close(got["grads"], expected["grads"], scale=1.0 / WORLD_SIZE)


# --- MoCo: local queries, keys gathered before they are enqueued -------------------------------

MOCO_STEPS = 2


def _moco_run(supervised: bool, distributed_run: bool) -> list[dict]:
    """Two MoCo steps with SGD in between (the 2nd uses the keys the 1st enqueued)."""
    inputs, labels = make_batch()
    model = make_model()
    method = MoCoMethod(
        model,
        AlternatingFlip(),
        feature_dim=FEAT_DIM,
        queue_size=12,  # 8 keys per step: the 2nd enqueue wraps around
        momentum=0.9,
        temperature=0.1,
        supervised=supervised,
    )
    wrapped: nn.Module = model
    if distributed_run:
        model = distributed.convert_sync_batchnorm(model)
        distributed.convert_sync_batchnorm(method)
        wrapped = nn.parallel.DistributedDataParallel(model)
        inputs, labels = local_slice(inputs), local_slice(labels)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    steps = []
    for _ in range(MOCO_STEPS):
        optimizer.zero_grad()
        output = method(wrapped, inputs, labels)
        output.loss.backward()
        total = distributed.all_reduce_sum_with_grad(output.loss.detach().double())
        loss = float(total) / distributed.world_size()
        steps.append(
            {
                "loss": loss,
                "grads": gradients(model),
                "queue": method.queue.clone(),
                "queue_labels": method.queue_labels.clone(),
                "queue_ptr": int(method.queue_ptr),
            }
        )
        optimizer.step()
    return steps


def _moco_worker(out_dir: str) -> None:
    results = {}
    for supervised in (False, True):
        results[supervised, "correct"] = _moco_run(supervised, distributed_run=True)
        gather = moco.gather_no_grad
        moco.gather_no_grad = lambda tensor: tensor.detach()  # bug: enqueue the local keys only
        results[supervised, "enqueue_local_keys"] = _moco_run(supervised, distributed_run=True)
        moco.gather_no_grad = gather
    torch.save(results, Path(out_dir) / f"rank{distributed.rank()}.pt")


@pytest.fixture(scope="module")
def moco_results(tmp_path_factory) -> tuple[dict, list[dict]]:
    out_dir = tmp_path_factory.mktemp("ddp_moco")
    run_ranks(_moco_worker, str(out_dir), world_size=WORLD_SIZE)
    per_rank = [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]
    reference = {supervised: _moco_run(supervised, False) for supervised in (False, True)}
    return reference, per_rank


@pytest.mark.parametrize("supervised", [False, True], ids=["moco", "supcon-queue"])
def test_moco_two_processes_equal_one_process(moco_results, supervised):
    reference, per_rank = moco_results
    for results in per_rank:
        steps = zip(results[supervised, "correct"], reference[supervised], strict=True)
        for got, expected in steps:
            assert got["loss"] == pytest.approx(expected["loss"], abs=1e-5)
            _assert_grads_close(got["grads"], expected["grads"])
            torch.testing.assert_close(got["queue"], expected["queue"], **TOLERANCE)
            assert torch.equal(got["queue_labels"], expected["queue_labels"])
            assert got["queue_ptr"] == expected["queue_ptr"]
    assert reference[supervised][-1]["queue_ptr"] == (MOCO_STEPS * 8) % 12


@pytest.mark.parametrize("supervised", [False, True], ids=["moco", "supcon-queue"])
def test_moco_enqueueing_local_keys_is_caught(moco_results, supervised):
    reference, per_rank = moco_results
    first, second = per_rank[0][supervised, "enqueue_local_keys"]
    assert first["queue_ptr"] != reference[supervised][0]["queue_ptr"]
    assert abs(second["loss"] - reference[supervised][1]["loss"]) > 1e-4


def test_gathering_different_shapes_raises_on_every_rank(view_results):
    _, per_rank = view_results
    for results in per_rank:
        assert "same shape" in results["mismatch"]
        assert "rank 0: (1, 3), rank 1: (2, 3)" in results["mismatch"]
