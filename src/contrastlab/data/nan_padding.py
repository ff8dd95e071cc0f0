"""Series padded with NaN: the convention for sets of unequal length (and missing values), as in
TS2Vec's code.

A batch ``x [B, C, L]`` holds series ``i`` in ``x[i, :, :L_i]`` and NaN after it
(:func:`contrastlab.data.ts_file.pad_series`). A timestamp is *observed* when none of its channels
is NaN; a series' *valid length* is one past its last observed timestamp, ``L_i`` for a padded
series. Both are computed on the tensor's device without reading values on the host.
"""

from __future__ import annotations

import torch


def _check_series_batch(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"series must be a tensor [B, C, L], got {shape}")
    return x


def observed_timestamps(x: torch.Tensor) -> torch.Tensor:
    """``x [B, C, L] -> [B, L]`` bool: True where no channel of the timestamp is NaN."""
    return ~torch.isnan(_check_series_batch(x)).any(dim=1)


def valid_lengths(x: torch.Tensor) -> torch.Tensor:
    """``x [B, C, L] -> [B]`` int64: one past each series' last observed timestamp (0 for a
    series without any), on ``x``'s device."""
    observed = observed_timestamps(x)
    positions = torch.arange(1, x.shape[2] + 1, device=x.device)
    return (observed * positions).amax(dim=1)
