"""InfoNCE (van den Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding").

For a query q_i, its positive key k_i+ and negatives {k_ij-}, with s = q . k / T::

    L_i = -log( exp(s_i+) / (exp(s_i+) + sum_j exp(s_ij-)) ) = softplus(LSE_j(s_ij-) - s_i+)

Negatives are either the other samples' positive keys (in-batch), one set shared by all queries
([M, D], e.g. a MoCo queue) or one set per query ([B, K, D]). The softplus form keeps the positive
out of the log-sum-exp, so it is exact at any temperature, and the accuracy of picking the positive
is simply ``s_i+ > max_j s_ij-``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import (
    check_choice,
    check_float_tensor,
    check_temperature,
    reduce_loss,
)
from contrastlab.collectives import gather_with_grad
from contrastlab.losses._logsumexp import (
    DIAGONAL,
    MEMORY_MODES,
    compute_dtype,
    contrast_logsumexp,
)


def info_nce(
    query: torch.Tensor,
    positive_key: torch.Tensor,
    negative_keys: torch.Tensor | None = None,
    temperature: float = 0.1,
    normalize: bool = True,
    reduction: str = "mean",
    return_accuracy: bool = False,
    memory: str = "auto",
    validate: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE loss.

    Args:
        query: [B, D].
        positive_key: [B, D]; row i is the positive of query i.
        negative_keys: None (in-batch: the other rows of ``positive_key``, needs B >= 2),
            [M, D] (shared by every query) or [B, K, D] (per query).
        temperature: T.
        normalize: L2-normalise queries and keys first (cosine similarity).
        reduction: 'mean', 'sum' or 'none' ([B]).
        return_accuracy: also return the fraction of queries whose positive scores highest.
        memory: 'auto', 'dense' or 'blocked' for the in-batch and shared-negative cases.
        validate: also check that the inputs are finite (reads values on the host; shapes and
            dtypes are always checked).

    Returns:
        The loss, or ``(loss, accuracy)`` with accuracy a 0-d tensor in [0, 1].

    Forward and backward read no value on the host.
    """
    check_temperature("temperature", temperature)
    check_choice("memory", memory, MEMORY_MODES)
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    check_float_tensor("query", query, ndim=2, values=validate)
    check_float_tensor("positive_key", positive_key, ndim=2, values=validate)
    if positive_key.shape != query.shape:
        raise ValueError(
            f"positive_key must match query's shape {tuple(query.shape)}, "
            f"got {tuple(positive_key.shape)}"
        )
    batch_size, dim = query.shape
    if negative_keys is not None:
        check_float_tensor("negative_keys", negative_keys, ndim=(2, 3), values=validate)
        expected = "[M, D]" if negative_keys.dim() == 2 else f"[{batch_size}, K, D]"
        if negative_keys.shape[-1] != dim or (
            negative_keys.dim() == 3 and negative_keys.shape[0] != batch_size
        ):
            raise ValueError(
                f"negative_keys must be {expected} with D = {dim}, got {tuple(negative_keys.shape)}"
            )
    elif batch_size < 2:
        raise ValueError("in-batch negatives need a batch of at least 2 queries")

    dtype = compute_dtype(query, positive_key, *(() if negative_keys is None else (negative_keys,)))
    with torch.autocast(device_type=query.device.type, enabled=False):
        q, k = query.to(dtype), positive_key.to(dtype)
        negatives = None if negative_keys is None else negative_keys.to(dtype)
        if normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
            negatives = None if negatives is None else F.normalize(negatives, dim=-1)
        scaled_q = q / temperature
        positive_logit = (scaled_q * k).sum(dim=1)
        if negatives is None:
            negative_lse, negative_max = contrast_logsumexp(
                scaled_q, k, DIAGONAL, memory, symmetric=False
            )
        elif negatives.dim() == 2:
            negative_lse, negative_max = contrast_logsumexp(
                scaled_q, negatives, None, memory, symmetric=False
            )
        else:
            negative_logits = torch.einsum("bd,bkd->bk", scaled_q, negatives)
            negative_lse = torch.logsumexp(negative_logits, dim=1)
            negative_max = negative_logits.detach().amax(dim=1)
        per_query = F.softplus(negative_lse - positive_logit)
        loss = reduce_loss(per_query, reduction)
        if not return_accuracy:
            return loss
        accuracy = (positive_logit.detach() > negative_max).to(dtype).mean()
        return loss, accuracy


class InfoNCE(nn.Module):
    """Module form of :func:`info_nce`.

    ``InfoNCE(temperature)(query, positive_key, negative_keys=None)``.

    ``gather_distributed=True`` (inside a ``DistributedDataParallel`` script): queries, positive
    keys and per-query negatives [B, K, D] of every process are gathered with gradients, so that
    the in-batch negatives are the global batch's; shared negatives [M, D] (a queue every process
    holds) are used as given. Every process computes the same global loss (see
    :mod:`contrastlab.collectives`).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        normalize: bool = True,
        reduction: str = "mean",
        return_accuracy: bool = False,
        memory: str = "auto",
        validate: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_temperature("temperature", temperature)
        self.temperature = temperature
        self.normalize = normalize
        self.reduction = reduction
        self.return_accuracy = return_accuracy
        self.memory = memory
        self.validate = validate
        self.gather_distributed = gather_distributed

    def forward(
        self,
        query: torch.Tensor,
        positive_key: torch.Tensor,
        negative_keys: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.gather_distributed:
            query = gather_with_grad(query, validate=self.validate)
            positive_key = gather_with_grad(positive_key, validate=self.validate)
            if negative_keys is not None and negative_keys.dim() == 3:
                negative_keys = gather_with_grad(negative_keys, validate=self.validate)
        return info_nce(
            query,
            positive_key,
            negative_keys,
            temperature=self.temperature,
            normalize=self.normalize,
            reduction=self.reduction,
            return_accuracy=self.return_accuracy,
            memory=self.memory,
            validate=self.validate,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, normalize={self.normalize}, "
            f"gather_distributed={self.gather_distributed}"
        )
