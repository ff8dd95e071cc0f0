"""A thin layer over torch.distributed for contrastive training.

* **Process groups from torchrun.** :func:`init_from_environment` reads the variables ``torchrun``
  sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and creates the
  default group: gloo on CPU, NCCL for CUDA tensors (``'cpu:gloo,cuda:nccl'`` when a GPU is present,
  so CPU tensors still work). Every rank query also works without a process group (rank 0 of 1).
* **Gathers that carry gradients.** :func:`gather_with_grad`, :func:`gather_no_grad`,
  :func:`all_reduce_sum_with_grad` and the rank queries live in the bottom-layer module
  :mod:`contrastlab.collectives` (so that the losses can gather too) and are re-exported here; its
  docstring explains why the gather's backward sums the ranks' gradients, which with DDP's
  averaging gives exactly the single-process gradient of the global batch.
* **SyncBatchNorm on CPU.** torch's ``nn.SyncBatchNorm`` only runs on GPUs; on CPU
  :func:`convert_sync_batchnorm` uses :class:`CPUSyncBatchNorm` (global mean and variance from
  differentiable all-reduces over gloo), so ``--syncBN`` and the tests work on CPU too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from contrastlab.collectives import (  # noqa: F401  (re-exported: one import for the loop)
    all_reduce_sum_with_grad,
    broadcast,
    gather_no_grad,
    gather_with_grad,
    is_distributed,
    rank,
    world_size,
)

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_main_process() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True inside a process started by ``torchrun`` (it sets WORLD_SIZE and LOCAL_RANK)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def default_backend() -> str:
    """``'cpu:gloo,cuda:nccl'`` when CUDA is available (each collective follows its tensors'
    device), else ``'gloo'``."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def init_from_environment(backend: str | None = None, timeout_s: float = 1800.0) -> bool:
    """Create the default process group from torchrun's environment variables.

    Does nothing (returns False) outside torchrun or when a group already exists, so it is safe to
    call from several entry points. On a CUDA machine the process's device is set to
    ``cuda:LOCAL_RANK`` first, as NCCL requires. The group is destroyed at interpreter exit unless
    :func:`destroy` is called earlier.

    Args:
        backend: torch.distributed backend; default :func:`default_backend`.
        timeout_s: how long a collective may wait for the other ranks before failing.

    Returns:
        True when this call created the group.

    Raises:
        ValueError: a torchrun variable is missing or malformed, or LOCAL_RANK names a GPU that
            does not exist.
    """
    if is_distributed() or not launched_by_torchrun():
        return False
    if not dist.is_available():
        raise ValueError("launched by torchrun, but this torch build has no torch.distributed")
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(f"launched by torchrun, but the environment lacks {missing}")
    try:
        ranks = {name: int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    except ValueError as error:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers: {error}") from error
    if not 0 <= ranks["RANK"] < ranks["WORLD_SIZE"]:
        raise ValueError(f"RANK {ranks['RANK']} is not in [0, WORLD_SIZE={ranks['WORLD_SIZE']})")
    if torch.cuda.is_available():
        if ranks["LOCAL_RANK"] >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK {ranks['LOCAL_RANK']} but only {torch.cuda.device_count()} CUDA "
                "device(s): lower --nproc_per_node"
            )
        torch.cuda.set_device(ranks["LOCAL_RANK"])
    dist.init_process_group(
        backend=backend or default_backend(),
        init_method="env://",
        timeout=timedelta(seconds=timeout_s),
    )
    atexit.register(destroy)
    return True


def destroy() -> None:
    """Destroy the default process group, if there is one."""
    if is_distributed():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group_from_environment(backend: str | None = None) -> Iterator[bool]:
    """``with process_group_from_environment():`` init under torchrun, destroy on exit.

    Yields True when the block runs in a group this context created (and will destroy).
    """
    created = init_from_environment(backend)
    try:
        yield created
    finally:
        if created:
            destroy()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order, on every rank; ``[value]`` without DDP.

    A collective: all ranks must call it."""
    if not is_distributed() or world_size() == 1:
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_state(module: nn.Module, source: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from rank ``source`` to all ranks (in place).

    DDP does this for the model; the loop uses it for a method's own state (a MoCo queue and
    momentum encoder), so every rank starts from the same one.
    """
    if not is_distributed() or world_size() == 1:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=source)


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch of all ranks, for CPU tensors (gloo).

    torch's ``nn.SyncBatchNorm`` runs only on GPUs (and DDP refuses it on CPU modules). In training
    mode under a process group this layer normalises with the statistics of the global batch, over
    the n = sum_r n_r values per channel of all ranks::

        mu = sum_r sum x / n,   var = sum_r sum (x - mu)^2 / n,
        y = (x - mu) / sqrt(var + eps) * w + b

    in float32, with two differentiable all-reduces (the two-pass variance stays accurate), and
    updates the running statistics with the unbiased variance ``var * n / (n - 1)`` as torch does.
    In eval mode, or without a process group, it is plain batch norm. Parameters and buffers are
    those of ``BatchNorm*d``, so state dicts load either way.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input [N, C, ...], got {tuple(input.shape)}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(input)
        if input.device.type != "cpu":
            raise ValueError(
                f"CPUSyncBatchNorm got a {input.device.type} tensor: move the model to its device "
                "before convert_sync_batchnorm (GPU models get nn.SyncBatchNorm)"
            )
        self._check_input_dim(input)
        channels = input.shape[1]
        shape = [1, channels] + [1] * (input.dim() - 2)
        reduce_dims = [0, *range(2, input.dim())]
        x = input.to(torch.promote_types(input.dtype, torch.float32))
        local_count = x.new_full((1,), input.numel() // max(channels, 1))
        sums = all_reduce_sum_with_grad(torch.cat([x.sum(dim=reduce_dims), local_count]))
        count = sums[-1].detach()
        if float(count) < 2:
            raise ValueError(
                f"batch norm needs more than one value per channel over all ranks, got input "
                f"{tuple(input.shape)} on {world_size()} rank(s)"
            )
        mean = sums[:-1] / count
        centred = x - mean.view(shape)
        var = all_reduce_sum_with_grad((centred * centred).sum(dim=reduce_dims)) / count
        output = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                unbiased = var.detach() * count / (count - 1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return output.to(input.dtype)


def _to_cpu_sync(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, (CPUSyncBatchNorm, nn.SyncBatchNorm)
    ):
        converted = CPUSyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        # The same Parameter and buffer objects: an optimizer built before keeps working.
        converted.weight, converted.bias = module.weight, module.bias
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, _to_cpu_sync(child))
    return module


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm*d`` of ``module`` by a synchronised one; returns the result.

    GPU modules get torch's ``nn.SyncBatchNorm``; CPU modules get :class:`CPUSyncBatchNorm`.
    Children are replaced in place (the same parameter objects are kept), so a module that holds
    the converted one sees the change; a batch-norm ``module`` itself is returned converted.
    """
    on_cpu = all(t.device.type == "cpu" for t in [*module.parameters(), *module.buffers()])
    if on_cpu:
        return _to_cpu_sync(module)
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
