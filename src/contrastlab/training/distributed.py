"""A thin layer over torch.distributed: rank queries that also work without a process group."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True inside a process started by ``torchrun`` (it sets WORLD_SIZE and LOCAL_RANK)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` [n, ...] from every rank along dim 0, rank order, keeping gradients.

    Uses ``torch.distributed.nn.functional.all_gather``, whose backward sums the incoming gradients
    across ranks and returns this rank's slice, so each rank's loss over the global batch sends
    gradient to every rank's embeddings. Without a process group, returns ``tensor`` itself.
    """
    if not is_distributed() or world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor), dim=0)


def gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0 (labels, indices: no gradient)."""
    if not is_distributed() or world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def barrier() -> None:
    if is_distributed():
        dist.barrier()
