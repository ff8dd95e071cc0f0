"""SupCon against a labelled queue of keys: the supervised loss of MoCo-style training.

Queries ``q_i`` and their own keys ``k_i`` ([B, D], L2-normalised) and a queue of earlier keys
``Q = {(k_j, y_j)}`` ([K, D], labels ``y_j``, -1 for "no label"); ``s(u, v) = u . v / T``. The
positives of ``q_i`` are its own key and every queue entry of its class,
``P(i) = {k_i} + {j : y_j = y_i}``; the denominator runs over the own key and the whole queue
(SupCon's L_out, Khosla et al. 2020)::

    L_i = log( exp s(q_i, k_i) + sum_j exp s(q_i, k_j) )
          - ( s(q_i, k_i) + sum_{j in P(i) - {k_i}} s(q_i, k_j) ) / |P(i)|

The positive term needs only per-class sums of queue vectors, O((B + K) D): the ``[B, K]``
similarities are touched by the log-sum-exp alone (:func:`contrast_logsumexp`, dense or blocked).
The classes are found without reading labels on the host: the batch's labels are sorted and each
queue label is looked up in them (``searchsorted``), so a queue entry lands in the slot of the
first batch position holding its class, and no ``unique`` / ``nonzero`` waits for the device.
"""

from __future__ import annotations

import torch

from contrastlab.losses._logsumexp import contrast_logsumexp


def supervised_queue_loss(
    query: torch.Tensor,
    key: torch.Tensor,
    labels: torch.Tensor,
    queue: torch.Tensor,
    queue_labels: torch.Tensor,
    temperature: float,
    memory: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-query SupCon loss against the own key plus a labelled queue (module docstring).

    Args:
        query: [B, D] L2-normalised queries (any float dtype; computed in float32 or float64).
        key: [B, D] L2-normalised keys, key[i] the positive of query[i].
        labels: [B] int64 labels of the queries (>= 0; not checked here, to stay free of host
            synchronisation: callers check them once).
        queue: [K, D] L2-normalised keys; queue_labels: [K] int64, -1 for "no label".
        temperature: T.
        memory: memory mode of the [B, K] log-sum-exp (see ``contrast_logsumexp``).

    Returns:
        ``(losses [B], own_key_wins [B] bool)``: the loss of each query, and whether its own key
        scores above every queue entry.
    """
    dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=query.device.type, enabled=False):
        q, k, negatives = query.to(dtype), key.to(dtype), queue.to(dtype)
        scaled_q = q / temperature
        own = (scaled_q * k).sum(dim=1)
        queue_lse, queue_max = contrast_logsumexp(scaled_q, negatives, None, memory)
        lse = torch.logaddexp(own, queue_lse)
        # Slot of a class = the first position of its label in the sorted batch labels.
        sorted_labels = labels.reshape(-1).sort().values
        query_slot = torch.searchsorted(sorted_labels, labels.reshape(-1))
        queue_slot = torch.searchsorted(sorted_labels, queue_labels).clamp(max=len(labels) - 1)
        in_batch = (sorted_labels[queue_slot] == queue_labels).to(dtype)  # [K]
        slots = negatives.new_zeros(len(labels), negatives.shape[1])
        class_sums = slots.index_add(0, queue_slot, negatives * in_batch[:, None])  # [B, D]
        class_counts = negatives.new_zeros(len(labels)).index_add(0, queue_slot, in_batch)
        positive_sum = own + (scaled_q * class_sums[query_slot]).sum(dim=1)
        losses = lse - positive_sum / (1 + class_counts[query_slot])
        return losses, own.detach() > queue_max
