"""The distributed helpers in a single process: no-op behaviour without a process group, the
torchrun environment checks, and the CPU SyncBatchNorm conversion (the 2-process behaviour is in
test_ddp_equivalence.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlab import collectives
from contrastlab.training import distributed


def test_the_collectives_live_in_the_bottom_layer_and_are_re_exported():
    for name in (
        "gather_with_grad",
        "gather_no_grad",
        "all_reduce_sum_with_grad",
        "is_distributed",
        "rank",
        "world_size",
    ):
        assert getattr(distributed, name) is getattr(collectives, name)
    x = torch.randn(3, 2, requires_grad=True)
    assert collectives.gather_with_grad(x, validate=True) is x
    assert not collectives.gather_no_grad(x, validate=True).requires_grad


def test_without_a_process_group_everything_is_rank_zero_of_one():
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size()) == (0, 1)
    assert distributed.is_main_process()
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.gather_with_grad(x) is x
    gathered = distributed.gather_no_grad(x)
    assert torch.equal(gathered, x) and not gathered.requires_grad
    assert distributed.all_reduce_sum_with_grad(x) is x
    distributed.broadcast_state(nn.Linear(2, 2))  # no-op
    distributed.barrier()


def test_init_from_environment_does_nothing_outside_torchrun(monkeypatch):
    for name in ("LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.init_from_environment() is False
    with distributed.process_group_from_environment() as created:
        assert created is False
    assert not distributed.is_distributed()


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "MASTER_ADDR"),
        (
            {
                "RANK": "2",
                "WORLD_SIZE": "2",
                "LOCAL_RANK": "0",
                "MASTER_ADDR": "x",
                "MASTER_PORT": "1",
            },
            "RANK 2 is not in",
        ),
        (
            {
                "RANK": "a",
                "WORLD_SIZE": "2",
                "LOCAL_RANK": "0",
                "MASTER_ADDR": "x",
                "MASTER_PORT": "1",
            },
            "must be integers",
        ),
    ],
)
def test_init_from_environment_rejects_a_broken_torchrun_environment(
    monkeypatch, environment, message
):
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.init_from_environment()
    assert not distributed.is_distributed()


def test_convert_sync_batchnorm_keeps_parameters_and_state_dict():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(4)))
    weight = model[1].weight
    state = {name: value.clone() for name, value in model.state_dict().items()}
    converted = distributed.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], distributed.CPUSyncBatchNorm)
    assert isinstance(model[2][0], distributed.CPUSyncBatchNorm)
    assert model[1].weight is weight  # an optimizer built before conversion keeps working
    assert converted.state_dict().keys() == state.keys()
    # Without a process group it is plain batch norm, in training and in eval mode.
    x = torch.randn(5, 4, 6, 6)
    reference = nn.BatchNorm2d(4)
    reference.load_state_dict(model[1].state_dict())
    for training in (True, False):
        model[1].train(training)
        reference.train(training)
        torch.testing.assert_close(model[1](x), reference(x))
    with pytest.raises(ValueError, match="at least 2-D"):
        distributed.CPUSyncBatchNorm(4)._check_input_dim(torch.zeros(4))
