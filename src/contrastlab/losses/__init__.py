"""Contrastive losses: each a pure function plus a thin ``nn.Module`` holding its settings.

Pair and triplet losses take any :mod:`contrastlab.distances` distance; the softmax losses
(SupCon, NT-Xent, InfoNCE) share one exact, memory-bounded log-sum-exp kernel. TS2Vec's
hierarchical loss contrasts per-timestamp representations across series and across time.

Training-step friendly: forward and backward read no value on the host (no wait for the GPU) and
launch a number of operations that does not depend on the batch. Types, dtypes and shapes are
always checked; the checks that read values (finite inputs, label and index ranges) run with
``validate=True``. Unchecked non-finite inputs give a NaN loss, never a silent 0. The modules of
the batch losses take ``gather_distributed=True`` to contrast with the global batch inside a
user's own ``DistributedDataParallel`` script (:mod:`contrastlab.collectives`).
"""

from contrastlab.losses._logsumexp import contrast_logsumexp
from contrastlab.losses.contrastive import (
    ContrastiveLoss,
    PairwiseContrastiveLoss,
    contrastive_loss,
    contrastive_loss_from_labels,
)
from contrastlab.losses.cpc import CPCLoss, cpc_loss, draw_negative_indices
from contrastlab.losses.hierarchical import (
    HierarchicalContrastiveLoss,
    hierarchical_contrastive_loss,
)
from contrastlab.losses.info_nce import InfoNCE, info_nce
from contrastlab.losses.mining import (
    batch_all_triplets,
    batch_hard_triplets,
    pair_masks,
    semi_hard_triplets,
    valid_triplet_mask,
)
from contrastlab.losses.nce import NCELoss, nce_loss
from contrastlab.losses.ntxent import NTXentLoss, ntxent_loss
from contrastlab.losses.supcon import SupConLoss, supcon_loss
from contrastlab.losses.supervised_queue import supervised_queue_loss
from contrastlab.losses.triplet import (
    BatchTripletLoss,
    TripletLoss,
    batch_triplet_loss,
    triplet_loss,
)

__all__ = [
    "BatchTripletLoss",
    "CPCLoss",
    "ContrastiveLoss",
    "HierarchicalContrastiveLoss",
    "InfoNCE",
    "NCELoss",
    "NTXentLoss",
    "PairwiseContrastiveLoss",
    "SupConLoss",
    "TripletLoss",
    "batch_all_triplets",
    "batch_hard_triplets",
    "batch_triplet_loss",
    "contrast_logsumexp",
    "contrastive_loss",
    "contrastive_loss_from_labels",
    "cpc_loss",
    "draw_negative_indices",
    "hierarchical_contrastive_loss",
    "info_nce",
    "nce_loss",
    "ntxent_loss",
    "pair_masks",
    "semi_hard_triplets",
    "supcon_loss",
    "supervised_queue_loss",
    "triplet_loss",
    "valid_triplet_mask",
]
