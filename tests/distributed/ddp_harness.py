"""Run a function on W local processes under a gloo process group, the way torchrun would.

Each child gets torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a
free MASTER_PORT), creates the group with ``distributed.init_from_environment()`` and runs the
worker; a child's exception is re-raised in the parent with its traceback, and a hung collective
fails the test after ``timeout_s`` instead of blocking the suite.

Also the small, deterministic training problem the equivalence tests share, so the parent's
single-process reference and the children build exactly the same thing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.multiprocessing as mp
from torch import nn

from contrastlab.models.supcon_resnet import SupConResNet
from contrastlab.training import distributed
from processes import free_port

GLOBAL_BATCH = 8
IMAGE_SIZE = 8
FEAT_DIM = 16


def _entry(
    rank: int, worker: Callable[..., None], world_size: int, port: int, args: tuple[Any, ...]
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        TQDM_DISABLE="1",
    )
    torch.set_num_threads(1)
    with distributed.process_group_from_environment() as created:
        assert created and distributed.world_size() == world_size
        worker(*args)


def _start_method() -> str:
    """fork when it is safe: the children inherit the imported torch (importing it again costs
    seconds per process on a loaded machine). Forking while other threads run could copy a lock
    one of them holds, so then spawn."""
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


def run_ranks(
    worker: Callable[..., None], *args: Any, world_size: int = 2, timeout_s: float = 90.0
) -> None:
    """Run ``worker(*args)`` on ``world_size`` new processes; raise if any fails or hangs."""
    context = mp.start_processes(
        _entry,
        args=(worker, world_size, free_port(), args),
        nprocs=world_size,
        join=False,
        start_method=_start_method(),
    )
    deadline = time.monotonic() + timeout_s
    while not context.join(timeout=0.5):
        if time.monotonic() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            raise TimeoutError(f"distributed workers still running after {timeout_s} s")


class AlternatingFlip(nn.Module):
    """A deterministic stand-in for a random augmentation: odd calls flip the images.

    MultiView calls it once per view, so view 0 is the image and view 1 its mirror, on every rank
    and in the single-process reference alike.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x.flip(-1) if self.calls % 2 == 0 else x


def make_model() -> nn.Module:
    """A SmallConvNet + MLP head (batch norm included), identical for a given seed."""
    torch.manual_seed(0)
    return SupConResNet("smallcnn", head="mlp", feat_dim=FEAT_DIM, in_channels=1)


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch: [8, 1, 8, 8] float images and [8] labels, every class twice, and no
    permutation of the two 4-sample halves maps the same-label pairs onto themselves."""
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(GLOBAL_BATCH, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    labels = torch.tensor([0, 0, 1, 2, 1, 2, 3, 3])
    return inputs, labels


def local_slice(tensor: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous share of a global batch (as ``epoch_batches`` splits it)."""
    per_rank = tensor.shape[0] // distributed.world_size()
    start = distributed.rank() * per_rank
    return tensor[start : start + per_rank]


def gradients(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameter name (without DDP's ``module.``) -> a copy of its gradient."""
    return {
        name.removeprefix("module."): parameter.grad.detach().clone()
        for name, parameter in model.named_parameters()
        if parameter.grad is not None
    }
