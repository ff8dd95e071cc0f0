"""Shuffling BN (He et al., MoCo, CVPR 2020, section 3.3): momentum-encoder keys computed on a
shuffled batch, so that batch-norm statistics cannot tell a query which key is its positive.

A network with batch norm normalises each sample with statistics of the samples it is processed
with. If the query q_i and its key k_i are normalised with statistics of the same samples, the
encoder can lower the contrastive loss by recognising those statistics (a "cheating" shortcut)
instead of learning good features. MoCo therefore computes the keys on a permutation of the global
batch split across the GPUs, and undoes the permutation afterwards:

* under DDP with W ranks: the key inputs of all ranks are gathered ([W B, ...]), permuted by one
  permutation drawn on rank 0 and broadcast, rank r encodes part r of the permuted batch, and
  the keys are gathered, un-permuted, and each rank keeps the keys of its own inputs;
* in one process: the batch is permuted and encoded in ``splits`` parts (as ``splits`` ranks
  would: the single-GPU variant of MoCo's CIFAR demonstration), then un-permuted.

Without batch norm (or with statistics that do not depend on the batch, e.g. in eval mode, or
with ``SyncBatchNorm``) the keys equal those of the unshuffled batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from contrastlab import collectives as distributed
from contrastlab._checks import check_int


def _unpermute(permuted: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Inverse of ``x[permutation]``: row permutation[i] of the result is row i of the input."""
    result = torch.empty_like(permuted)
    result[permutation] = permuted
    return result


def shuffled_forward(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    splits: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``encoder`` applied to ``inputs`` [B, ...] with shuffled batch-norm batches -> [B, ...].

    Args:
        encoder: the momentum (key) encoder; called once per part.
        inputs: this rank's key inputs (same B on every rank under DDP).
        splits: parts of the permuted batch in one process (ignored under DDP, where each rank
            encodes one part); 1 encodes the batch as it is (a permutation would change nothing).
        generator: draws the permutation (on rank 0 under DDP); default: torch's global one.
    """
    check_int("splits", splits)
    world = distributed.world_size() if distributed.is_distributed() else 1
    if world == 1:
        if splits == 1:  # one batch-norm batch whatever the order: nothing to shuffle
            return encoder(inputs)
        if splits > inputs.shape[0]:
            raise ValueError(f"cannot split a batch of {inputs.shape[0]} into {splits} parts")
        permutation = torch.randperm(inputs.shape[0], generator=generator).to(inputs.device)
        parts = inputs[permutation].tensor_split(splits)
        return _unpermute(torch.cat([encoder(part) for part in parts]), permutation)
    batch_size = inputs.shape[0]
    everyone = distributed.gather_no_grad(inputs)  # [W B, ...], rank order
    permutation = torch.randperm(everyone.shape[0], generator=generator).to(inputs.device)
    permutation = distributed.broadcast(permutation)
    rank = distributed.rank()
    mine = permutation[rank * batch_size : (rank + 1) * batch_size]
    keys = _unpermute(distributed.gather_no_grad(encoder(everyone[mine])), permutation)
    return keys[rank * batch_size : (rank + 1) * batch_size]
