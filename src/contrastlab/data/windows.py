"""Windowing of long multi-channel recordings, split by time without leakage.

A recording ``signal: [C, T]`` is cut into windows ``[N, C, window_length]`` that start every
``stride`` samples: window ``i`` covers samples ``[i * stride, i * stride + window_length)`` and
``N = (T - window_length) // stride + 1``.

**Why splits are made by time, not by window.** With ``stride < window_length`` consecutive
windows share ``window_length - stride`` samples; even with ``stride == window_length``
neighbouring windows of one recording are strongly correlated. Shuffling windows into
train/validation/test therefore puts (nearly) the same samples on both sides of the split and
inflates test accuracy. Here every recording is first cut into contiguous time segments (e.g. the
first 70 % of its samples for training, the next 15 % for validation, the last 15 % for testing)
and windows are cut *inside* each segment only, so no sample of a test window is seen in training.

Everything here is a pure function of arrays; data sources (CWRU, the bearing simulator) call
:func:`windowed_splits` and wrap its result in a :class:`~contrastlab.data.splits.DataSplits`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from contrastlab._checks import check_choice, check_int
from contrastlab.data.splits import LabeledTensors

SPLIT_NAMES = ("train", "val", "test")
NORMALIZATIONS = ("standard", "none")


def _check_window_args(window_length: int, stride: int) -> None:
    check_int("window_length", window_length)
    check_int("stride", stride)


def window_count(n_samples: int, window_length: int, stride: int) -> int:
    """Number of windows, ``(n_samples - window_length) // stride + 1`` (0 for a shorter signal)."""
    _check_window_args(window_length, stride)
    if n_samples < window_length:
        return 0
    return (n_samples - window_length) // stride + 1


def window_starts(n_samples: int, window_length: int, stride: int) -> np.ndarray:
    """Start sample of every window: ``[N]`` int64, ``start_i = i * stride``."""
    return np.arange(window_count(n_samples, window_length, stride), dtype=np.int64) * stride


def sliding_windows(
    signal: np.ndarray | torch.Tensor, window_length: int, stride: int
) -> np.ndarray | torch.Tensor:
    """Cut ``signal: [C, T]`` into ``[N, C, window_length]`` windows, one every ``stride`` samples.

    NumPy input gives a NumPy copy, a tensor gives a tensor (same dtype and device).
    Raises ``ValueError`` when ``signal`` is not 2-D or is shorter than one window.
    """
    _check_window_args(window_length, stride)
    if signal.ndim != 2:
        raise ValueError(f"signal must be 2-D [C, T], got shape {tuple(signal.shape)}")
    n_samples = int(signal.shape[1])
    if n_samples < window_length:
        raise ValueError(
            f"signal has {n_samples} samples, shorter than one window of {window_length} samples"
        )
    count = window_count(n_samples, window_length, stride)
    if isinstance(signal, torch.Tensor):
        # unfold gives [C, N, window_length]; the first count windows are exactly ours.
        return signal.unfold(1, window_length, stride)[:, :count].permute(1, 0, 2).contiguous()
    view = np.lib.stride_tricks.sliding_window_view(signal, window_length, axis=1)
    return np.ascontiguousarray(view[:, ::stride][:, :count].transpose(1, 0, 2))


def check_split_fractions(split_fractions: Sequence[float]) -> tuple[float, float, float]:
    """Require three fractions ``(train, val, test)`` >= 0 summing to 1, with train > 0."""
    fractions = tuple(float(f) for f in split_fractions)
    if len(fractions) != 3:
        raise ValueError(f"split_fractions must be (train, val, test), got {split_fractions!r}")
    if any(not np.isfinite(f) or f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split_fractions must be >= 0 and sum to 1, got {split_fractions!r}")
    if fractions[0] == 0:
        raise ValueError("split_fractions[0] (train) must be > 0")
    return fractions  # type: ignore[return-value]


def segment_bounds(n_samples: int, split_fractions: Sequence[float]) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` sample ranges of the train / val / test segments.

    Boundaries are ``round(n_samples * cumsum(split_fractions))``, so the segments tile
    ``[0, n_samples)`` exactly, in time order.
    """
    fractions = check_split_fractions(split_fractions)
    edges = np.round(np.cumsum((0.0, *fractions)) * n_samples).astype(np.int64)
    edges[-1] = n_samples
    return [(int(edges[i]), int(edges[i + 1])) for i in range(3)]


def check_segments_hold_a_window(
    n_samples: int, window_length: int, split_fractions: Sequence[float]
) -> None:
    """Raise ``ValueError`` when a split with a positive fraction gets a segment of a recording of
    ``n_samples`` samples (:func:`segment_bounds`) shorter than one window."""
    check_int("window_length", window_length)
    fractions = check_split_fractions(split_fractions)
    for name, fraction, (start, stop) in zip(
        SPLIT_NAMES, fractions, segment_bounds(n_samples, fractions), strict=True
    ):
        if fraction > 0 and stop - start < window_length:
            raise ValueError(
                f"the {name} segment has {stop - start} samples ({fraction:.0%} of "
                f"{n_samples}), shorter than one window of {window_length} samples; "
                "use a shorter window_length or a larger split fraction"
            )


def split_record_windows(
    signal: np.ndarray, window_length: int, stride: int, split_fractions: Sequence[float]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split ``signal: [C, T]`` by time, then window each segment on its own.

    Returns, for train / val / test, ``(windows [N_s, C, window_length], starts [N_s])`` where
    ``starts`` are sample offsets in the whole recording. A split with fraction 0 is empty; a split
    with a positive fraction whose segment is shorter than one window raises ``ValueError``.
    """
    _check_window_args(window_length, stride)
    if signal.ndim != 2:
        raise ValueError(f"signal must be 2-D [C, T], got shape {tuple(signal.shape)}")
    result = []
    fractions = check_split_fractions(split_fractions)
    check_segments_hold_a_window(signal.shape[1], window_length, fractions)
    for fraction, (start, stop) in zip(
        fractions, segment_bounds(signal.shape[1], fractions), strict=True
    ):
        if fraction == 0:
            empty = np.empty((0, signal.shape[0], window_length), dtype=signal.dtype)
            result.append((empty, np.empty(0, dtype=np.int64)))
            continue
        windows = sliding_windows(signal[:, start:stop], window_length, stride)
        result.append((windows, start + window_starts(stop - start, window_length, stride)))
    return result


@dataclass
class ChannelNormalization:
    """Per-channel standardisation ``x' = (x - mean[c]) / std[c]`` fitted on training windows."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, windows: np.ndarray, eps: float = 1e-12) -> ChannelNormalization:
        """Fit on ``windows: [N, C, L]``: mean and std over samples and time, per channel."""
        if windows.ndim != 3 or windows.shape[0] == 0:
            raise ValueError(f"need [N, C, L] windows with N > 0, got {tuple(windows.shape)}")
        mean = windows.mean(axis=(0, 2), dtype=np.float64)
        std = windows.std(axis=(0, 2), dtype=np.float64)
        return cls(mean=mean, std=np.maximum(std, eps))

    def apply(self, windows: np.ndarray) -> np.ndarray:
        """Standardise ``windows: [N, C, L]`` (float64 arithmetic)."""
        return (windows - self.mean[None, :, None]) / self.std[None, :, None]

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "fitted_on": "train"}


@dataclass
class WindowedSplits:
    """Result of :func:`windowed_splits`.

    ``splits``: train / val / test :class:`LabeledTensors` with float32 ``inputs [N, C, L]``;
    ``window_index``: per split an int64 ``[N, 2]`` array of ``(record index, start sample)``;
    ``normalization``: the statistics applied (``None`` when ``normalize='none'``).
    """

    splits: dict[str, LabeledTensors]
    window_index: dict[str, torch.Tensor]
    normalization: ChannelNormalization | None


def windowed_splits(
    signals: Sequence[np.ndarray],
    labels: Sequence[int],
    window_length: int,
    stride: int,
    split_fractions: Sequence[float] = (0.7, 0.15, 0.15),
    normalize: str = "standard",
) -> WindowedSplits:
    """Window every recording ``signals[r]: [C, T_r]`` (label ``labels[r]``) into time-split sets.

    Each recording contributes its first ``split_fractions[0]`` of samples to train, the next
    ``split_fractions[1]`` to validation and the rest to test (see the module docstring for why).
    With ``normalize='standard'`` per-channel mean and std are fitted on the **training windows
    only** and applied to all three splits.
    """
    check_choice("normalize", normalize, NORMALIZATIONS)
    if len(signals) == 0:
        raise ValueError("no recordings to window")
    if len(signals) != len(labels):
        raise ValueError(f"got {len(signals)} signals but {len(labels)} labels")
    channels = {int(s.shape[0]) for s in signals}
    if len(channels) != 1:
        raise ValueError(f"all recordings need the same channel count, got {sorted(channels)}")
    per_split: dict[str, list[tuple[np.ndarray, np.ndarray, int, int]]] = {
        n: [] for n in SPLIT_NAMES
    }
    for record, (signal, label) in enumerate(zip(signals, labels, strict=True)):
        parts = split_record_windows(signal, window_length, stride, split_fractions)
        for name, (windows, starts) in zip(SPLIT_NAMES, parts, strict=True):
            per_split[name].append((windows, starts, record, int(label)))
    stacked: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name, parts in per_split.items():
        windows = np.concatenate([p[0] for p in parts], axis=0)
        labels_out = np.concatenate([np.full(len(p[1]), p[3], dtype=np.int64) for p in parts])
        index = np.concatenate(
            [np.stack([np.full(len(p[1]), p[2], dtype=np.int64), p[1]], axis=1) for p in parts]
        )
        stacked[name] = (windows, labels_out, index.reshape(-1, 2))
    normalization = (
        ChannelNormalization.fit(stacked["train"][0]) if normalize == "standard" else None
    )
    splits, window_index = {}, {}
    for name, (windows, labels_out, index) in stacked.items():
        if normalization is not None:
            windows = normalization.apply(windows)
        splits[name] = LabeledTensors(
            torch.from_numpy(windows.astype(np.float32)), torch.from_numpy(labels_out)
        )
        window_index[name] = torch.from_numpy(index)
    return WindowedSplits(splits=splits, window_index=window_index, normalization=normalization)
