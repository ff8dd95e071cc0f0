"""TS2Vec's hierarchical contrastive loss (Yue et al., "TS2Vec: Towards Universal Representation of
Time Series", AAAI 2022, Sec. 3.3 and Algorithm 1).

Inputs are the per-timestamp representations of two views of the same ``B`` series restricted to
their overlap, ``z1, z2: [B, T, C]``: ``z1[i, t]`` and ``z2[i, t]`` are the same instant of series
``i`` seen in two contexts (two overlapping crops, two timestamp masks). Similarities are plain dot
products ``s(u, v) = u . v`` (no temperature, no normalisation, as in the paper). For an anchor
``a = zu[i, t]`` with ``zv`` the other view (``{u, v} = {1, 2}``):

- **instance-wise** (negatives: the other series at the same timestamp, in both views)::

    l_inst(u, i, t) = -log  exp(s(a, zv[i,t]))
                      / sum_j [ exp(s(a, zv[j,t])) + 1[j != i] exp(s(a, zu[j,t])) ]

- **temporal** (negatives: the other timestamps of the same series, in both views)::

    l_temp(u, i, t) = -log  exp(s(a, zv[i,t]))
                      / sum_t' [ exp(s(a, zv[i,t'])) + 1[t' != t] exp(s(a, zu[i,t'])) ]

``L_inst`` and ``L_temp`` average these over all ``2 B T`` anchors (both views). The loss is taken
at every level of a time pyramid: after each level both views are max-pooled along time with
kernel 2 (an odd last timestamp is dropped), until one timestamp is left::

    L = (1 / D) sum_{d=0}^{D-1} [ alpha L_inst^(d) + (1 - alpha) 1[d >= temporal_unit] L_temp^(d) ]

with ``D = floor(log2 T) + 1`` levels. The last level (``T = 1``) has no temporal term: one
timestamp has no temporal negatives. With ``B = 1`` the instance terms are 0 (no negatives), as in
the paper's code; they still count in ``D``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_float_tensor, check_int


def two_view_contrast(view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of picking the other view's item among all items of a group.

    ``view1, view2: [G, N, C]``: ``G`` independent groups of ``N`` items. Each of the ``2 G N``
    anchors ``view_u[g, n]`` has the positive ``view_v[g, n]`` and the ``2 N - 2`` negatives
    ``view1[g, m], view2[g, m]`` for ``m != n``. Returns a 0-d tensor; 0 when ``N = 1``.
    """
    items = view1.shape[1]
    if items < 2:
        return view1.new_zeros(())
    both = torch.cat([view1, view2], dim=1)  # [G, 2N, C]
    similarity = both @ both.transpose(1, 2)  # [G, 2N, 2N]
    self_pairs = torch.eye(2 * items, dtype=torch.bool, device=both.device)
    log_prob = F.log_softmax(similarity.masked_fill(self_pairs, float("-inf")), dim=-1)
    rows = torch.arange(2 * items, device=both.device)
    positives = (rows + items) % (2 * items)  # n <-> n + N
    return -log_prob[:, rows, positives].mean()


def instance_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """``L_inst`` of one level: groups are timestamps, items are series. ``z1, z2: [B, T, C]``."""
    return two_view_contrast(z1.transpose(0, 1), z2.transpose(0, 1))


def temporal_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """``L_temp`` of one level: groups are series, items are timestamps. ``z1, z2: [B, T, C]``."""
    return two_view_contrast(z1, z2)


def _check_options(alpha: float, temporal_unit: int) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    check_int("temporal_unit", temporal_unit, minimum=0)


def _check_views(z1: object, z2: object, validate: bool) -> None:
    check_float_tensor("z1", z1, ndim=3, values=validate)
    check_float_tensor("z2", z2, ndim=3, values=validate)
    assert isinstance(z1, torch.Tensor) and isinstance(z2, torch.Tensor)
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both be [B, T, C] over the same overlap, got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )


def hierarchical_contrastive_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    alpha: float = 0.5,
    temporal_unit: int = 0,
    validate: bool = False,
) -> torch.Tensor:
    """TS2Vec's hierarchical contrastive loss (see the module docstring).

    Args:
        z1, z2: ``[B, T, C]`` representations of two views on their common timestamps.
        alpha: weight of the instance-wise term, ``1 - alpha`` that of the temporal term.
        temporal_unit: the temporal term starts at pyramid level ``temporal_unit`` (0: every
            level; larger values skip the finest time scales).
        validate: also check that ``z1`` and ``z2`` are finite (a host read; shapes and dtypes
            are always checked). Forward and backward read no value on the host.

    Returns:
        A 0-d tensor. Scores are computed in float32 at least, outside autocast (unnormalised dot
        products overflow fp16), and the loss is returned in that dtype.
    """
    _check_options(alpha, temporal_unit)
    _check_views(z1, z2, validate)
    dtype = torch.promote_types(z1.dtype, torch.float32)
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z1, z2 = z1.to(dtype), z2.to(dtype)
        total = z1.new_zeros(())
        level = 0
        while True:
            if alpha > 0:
                total = total + alpha * instance_contrastive_loss(z1, z2)
            if z1.shape[1] == 1:
                break
            if alpha < 1 and level >= temporal_unit:
                total = total + (1 - alpha) * temporal_contrastive_loss(z1, z2)
            level += 1
            z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
            z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
        return total / (level + 1)


class HierarchicalContrastiveLoss(nn.Module):
    """Module form of :func:`hierarchical_contrastive_loss`: ``forward(z1, z2) -> loss``."""

    def __init__(self, alpha: float = 0.5, temporal_unit: int = 0, validate: bool = False) -> None:
        super().__init__()
        _check_options(alpha, temporal_unit)
        self.alpha = alpha
        self.temporal_unit = temporal_unit
        self.validate = validate

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return hierarchical_contrastive_loss(z1, z2, self.alpha, self.temporal_unit, self.validate)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, temporal_unit={self.temporal_unit}"
