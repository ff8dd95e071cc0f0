"""Temporal pyramid max pooling: one instance vector from per-timestamp representations that
keeps where along the series a pattern occurs.

For ``r [B, L, D]`` and segment counts ``(s_1, ..., s_m)``: at level ``j`` the ``L`` timestamps
are cut into ``s_j`` contiguous segments of sizes ``ceil(L / s_j)`` or ``floor(L / s_j)`` (the
longer ones first, :func:`torch.tensor_split`), each segment is max-pooled over its timestamps,
and all ``sum_j s_j`` vectors are concatenated, level by level, segment by segment::

    out[b] = [ max_{t in seg(1, 1)} r[b, t], ..., max_{t in seg(m, s_m)} r[b, t] ]   # [D sum s_j]

``(1,)`` is the plain maximum over all timestamps (TS2Vec's full-series encoding). Finer levels
keep the coarse position of a pattern, which a global maximum discards: that helps where series
are aligned in time and classes differ by *where* a shape bends (UCR ArrowHead: +6 points) and
hurts where they are not (UCR OSULeaf, outlines starting anywhere: -15 points); see
docs/bearing.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from contrastlab._checks import check_int


def check_pyramid(segments: Sequence[int], name: str = "pyramid") -> tuple[int, ...]:
    """``segments`` as a tuple of positive integers, or ``ValueError`` naming ``name``."""
    if isinstance(segments, (str, bytes)) or not isinstance(segments, Sequence) or not segments:
        raise ValueError(f"{name} must be a non-empty list of segment counts, got {segments!r}")
    return tuple(check_int(f"each segment count of {name}", count) for count in segments)


def temporal_pyramid_max(representations: torch.Tensor, segments: Sequence[int]) -> torch.Tensor:
    """``r [B, L, D] -> [B, D * sum(segments)]`` (see the module docstring); every level needs
    ``L >= s_j`` so that no segment is empty."""
    segments = check_pyramid(segments)
    if representations.dim() != 3:
        raise ValueError(
            f"pyramid pooling needs representations [B, L, D], got {tuple(representations.shape)}"
        )
    length = representations.shape[1]
    if length < max(segments):
        raise ValueError(
            f"pyramid pooling into {max(segments)} segments needs at least {max(segments)} "
            f"timestamps, got {length}"
        )
    pooled = []
    for count in segments:
        if count == 1:
            pooled.append(representations.amax(dim=1))
            continue
        pooled += [part.amax(dim=1) for part in torch.tensor_split(representations, count, dim=1)]
    return torch.cat(pooled, dim=1)
