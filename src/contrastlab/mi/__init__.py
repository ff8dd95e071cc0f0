"""Mutual-information estimators: the InfoNCE lower bound and the CLUB upper bound."""

from contrastlab.mi.club import CLUB
from contrastlab.mi.infonce_bound import (
    BilinearCritic,
    InfoNCEEstimator,
    SeparableCritic,
    infonce_lower_bound,
)

__all__ = [
    "CLUB",
    "BilinearCritic",
    "InfoNCEEstimator",
    "SeparableCritic",
    "infonce_lower_bound",
]
