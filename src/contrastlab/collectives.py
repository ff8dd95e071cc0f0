"""Collectives with autograd over torch.distributed: the global batch for a contrastive loss.

A bottom-layer module (it imports only torch), so the losses can gather inside a user's own
``DistributedDataParallel`` script (``SupConLoss(gather_distributed=True)``) and the training loop
can do the same through :mod:`contrastlab.training.distributed`, which re-exports these names.
Every function also works without a process group (rank 0 of 1): it then returns its input.

**Why the backward of the gather sums.** A contrastive loss over the global batch needs every
rank's embeddings. :func:`gather_with_grad` concatenates them in rank order; its backward *sums*
the gradient each rank computed for a slice and hands each rank its own slice. With DDP averaging
the parameter gradients over W ranks, a loss computed identically on every rank then yields exactly
the single-process gradient of the same global batch::

    grad_r = sum_{k} dL_k / dz_r = W * dL / dz_r,   DDP: (1 / W) * sum_r grad_r * dz_r / dtheta
                                                        = dL / dtheta

A backward that returns only the local slice (no sum) gives gradients W times too small; a gather
without autograd (``dist.all_gather``) drops every cross-rank term.

**Shape check.** Gathering needs the same shape on every rank (a mismatch would hang or scramble
the collective). Checking costs an all-gather of the shapes and a host read, so it runs once per
new local shape (per process group), or on every call with ``validate=True``. The once-per-shape
check relies on the ranks changing their batch shape together, as they do under a
``DistributedSampler``: a rank that alone sees a new shape checks while the others gather data,
and the collectives no longer match. ``validate=True`` checks every call on every rank.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

# Recent torch renamed all_gather_into_tensor / reduce_scatter_tensor (now deprecated) to *_single.
_all_gather_single = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter_single = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor

_MAX_RANK = 8
"""Shapes of up to this many dimensions are compared in full (longer ones by their first 8)."""

_checked_shapes: dict[int, tuple[object, set[tuple[int, ...]]]] = {}
"""id(process group) -> (the group, the local shapes every rank has agreed on)."""


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def _all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """[n, ...] on each rank -> [W * n, ...] in rank order (no autograd)."""
    tensor = tensor.contiguous()
    gathered = tensor.new_empty((world_size() * tensor.shape[0], *tensor.shape[1:]))
    _all_gather_single(gathered, tensor)
    return gathered


def _agreed_shapes() -> set[tuple[int, ...]]:
    group = dist.group.WORLD
    entry = _checked_shapes.get(id(group))
    if entry is None or entry[0] is not group:  # a new group (possibly at a recycled id)
        entry = (group, set())
        _checked_shapes[id(group)] = entry
    return entry[1]


def _check_same_shape(tensor: torch.Tensor, validate: bool) -> None:
    """Raise ValueError (on every rank) unless all ranks pass tensors of one shape; skipped for a
    shape already checked unless ``validate`` (module docstring)."""
    if tensor.dim() == 0:
        raise ValueError("gather needs a tensor with a batch dimension [n, ...], got a scalar")
    agreed = _agreed_shapes()
    if not validate and tuple(tensor.shape) in agreed:
        return
    shape = torch.tensor([tensor.dim(), *tensor.shape], dtype=torch.long)
    padded = torch.full((_MAX_RANK + 1,), -1, dtype=torch.long)
    padded[: min(len(shape), _MAX_RANK + 1)] = shape[: _MAX_RANK + 1]
    shapes = _all_gather(padded.to(tensor.device)).view(world_size(), _MAX_RANK + 1).cpu()
    if not bool((shapes == shapes[:1]).all()):
        found = ", ".join(
            f"rank {index}: {tuple(row[1 : 1 + row[0]])}"
            for index, row in enumerate(shapes.tolist())
        )
        raise ValueError(
            f"every rank must gather tensors of the same shape (same per-rank batch), got {found}"
        )
    agreed.add(tuple(tensor.shape))


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.rows = tensor.shape[0]
        return _all_gather(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        if grad.device.type == "cuda":  # NCCL has reduce-scatter: W times less traffic
            local = grad.new_empty((ctx.rows, *grad.shape[1:]))
            _reduce_scatter_single(local, grad, op=dist.ReduceOp.SUM)
            return local
        total = grad.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total[rank() * ctx.rows : (rank() + 1) * ctx.rows]


def gather_with_grad(tensor: torch.Tensor, validate: bool = False) -> torch.Tensor:
    """Concatenate ``tensor`` [n, ...] from every rank along dim 0, in rank order, with gradients.

    Returns [W * n, ...]; rows ``[r * n, (r + 1) * n)`` are rank r's. The backward sums the
    gradients every rank computed for those rows and returns them to rank r (see the module
    docstring for why that, with DDP's averaging, reproduces the single-process gradient).
    Without a process group (or with one rank) returns ``tensor`` itself. A collective: every rank
    must call it.

    Args:
        tensor: [n, ...], the same shape on every rank.
        validate: check the shapes on every call, not only for a new local shape.

    Raises:
        ValueError: the ranks passed tensors of different shapes (when checked).
    """
    if not is_distributed() or world_size() == 1:
        return tensor
    _check_same_shape(tensor, validate)
    return _GatherWithGrad.apply(tensor)


def gather_no_grad(tensor: torch.Tensor, validate: bool = False) -> torch.Tensor:
    """Concatenate ``tensor`` [n, ...] from every rank along dim 0, in rank order, detached
    (labels, momentum-encoder keys, indices); ``validate`` as in :func:`gather_with_grad`."""
    if not is_distributed() or world_size() == 1:
        return tensor.detach()
    _check_same_shape(tensor, validate)
    return _all_gather(tensor.detach())


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        total = tensor.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # y = sum_k x_k is used by every rank's loss: dL/dx_r = sum_k dL_k/dy.
        total = grad.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total


def all_reduce_sum_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks (same shape everywhere), differentiably; identity without DDP."""
    if not is_distributed() or world_size() == 1:
        return tensor
    return _AllReduceSum.apply(tensor)


def broadcast(tensor: torch.Tensor, source: int = 0) -> torch.Tensor:
    """Rank ``source``'s ``tensor`` on every rank (same shape and dtype everywhere); the tensor
    itself without DDP. A collective: all ranks must call it."""
    if not is_distributed() or world_size() == 1:
        return tensor
    result = tensor.detach().clone()
    dist.broadcast(result, src=source)
    return result
