"""Contrastive losses: each a pure function plus a thin ``nn.Module`` holding its settings."""

from contrastlab.losses._logsumexp import contrast_logsumexp
from contrastlab.losses.info_nce import InfoNCE, info_nce
from contrastlab.losses.ntxent import NTXentLoss, ntxent_loss
from contrastlab.losses.supcon import SupConLoss, supcon_loss

__all__ = [
    "InfoNCE",
    "NTXentLoss",
    "SupConLoss",
    "contrast_logsumexp",
    "info_nce",
    "ntxent_loss",
    "supcon_loss",
]
