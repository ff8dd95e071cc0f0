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

**Padding.** With ``valid [B, L]`` (False: a padded or missing timestamp) each series is pooled
over its own valid timestamps only: the ``n_b`` valid timestamps of series ``b``, in order, are
cut as above with ``n_b`` in place of ``L``, so a series padded to any length pools exactly as
the unpadded series. Timestamp ``t`` with rank ``k`` among them (``k = 0..n_b - 1``) lies in
segment ``k // (q + 1)`` when ``k < e (q + 1)``, else ``e + (k - e (q + 1)) // q``, where
``q = n_b // s`` and ``e = n_b mod s``; the segment maxima are one ``scatter_reduce`` per level,
for any batch.
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


def temporal_pyramid_max(
    representations: torch.Tensor, segments: Sequence[int], valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``r [B, L, D] -> [B, D * sum(segments)]`` (see the module docstring); every level needs
    ``L >= s_j`` so that no segment is empty.

    ``valid [B, L]`` (bool, optional): pool each series over its valid timestamps only (module
    docstring). A series needs at least ``max(segments)`` valid timestamps; one with fewer gets
    ``-inf`` in its empty segments (the values are not read here, so that a training step does
    not wait for the device: check lengths where the data are loaded).
    """
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
    if valid is not None:
        return _masked_pyramid_max(representations, segments, valid)
    pooled = []
    for count in segments:
        if count == 1:
            pooled.append(representations.amax(dim=1))
            continue
        pooled += [part.amax(dim=1) for part in torch.tensor_split(representations, count, dim=1)]
    return torch.cat(pooled, dim=1)


def _masked_pyramid_max(
    representations: torch.Tensor, segments: tuple[int, ...], valid: torch.Tensor
) -> torch.Tensor:
    """:func:`temporal_pyramid_max` over the ``valid [B, L]`` timestamps of each series."""
    batch, length, width = representations.shape
    if valid.shape != (batch, length) or valid.dtype != torch.bool:
        raise ValueError(
            f"valid must be a bool mask [B, L] = [{batch}, {length}], got {valid.dtype} "
            f"{tuple(valid.shape)}"
        )
    valid = valid.to(representations.device)
    rank = valid.cumsum(dim=1) - 1  # [B, L]: index of each valid timestamp among its series'
    count = valid.sum(dim=1, keepdim=True)  # [B, 1]
    pooled = []
    for parts in segments:
        size, extra = count // parts, count % parts
        long_end = extra * (size + 1)  # the first `extra` segments hold size + 1 timestamps
        segment = torch.where(
            rank < long_end, rank // (size + 1), extra + (rank - long_end) // size.clamp(min=1)
        )
        segment = torch.where(valid, segment, parts)  # padding goes to a discarded segment
        maxima = representations.new_full((batch, parts + 1, width), float("-inf"))
        maxima = maxima.scatter_reduce(
            1, segment.unsqueeze(-1).expand(-1, -1, width), representations, "amax"
        )
        pooled.append(maxima[:, :parts].reshape(batch, parts * width))
    return torch.cat(pooled, dim=1)
