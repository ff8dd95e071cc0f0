"""Windowing and time-segment splits, checked against hand-written loops and hand counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlab.data.windows import (
    ChannelNormalization,
    segment_bounds,
    sliding_windows,
    split_record_windows,
    window_count,
    window_starts,
    windowed_splits,
)


def _loop_windows(signal: np.ndarray, length: int, stride: int) -> np.ndarray:
    out, start = [], 0
    while start + length <= signal.shape[1]:
        out.append(signal[:, start : start + length])
        start += stride
    return np.stack(out)


@pytest.mark.parametrize(
    ("n_samples", "length", "stride"), [(10, 4, 2), (10, 4, 3), (9, 9, 1), (50, 7, 7)]
)
def test_sliding_windows_match_loop_numpy_and_torch(
    n_samples: int, length: int, stride: int
) -> None:
    signal = np.arange(2 * n_samples, dtype=np.float64).reshape(2, n_samples)
    expected = _loop_windows(signal, length, stride)
    got = sliding_windows(signal, length, stride)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)
    got_t = sliding_windows(torch.from_numpy(signal).float(), length, stride)
    assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32
    np.testing.assert_array_equal(got_t.numpy(), expected)
    assert window_count(n_samples, length, stride) == len(expected)
    np.testing.assert_array_equal(
        window_starts(n_samples, length, stride), np.arange(len(expected)) * stride
    )


def test_hand_counted_windows() -> None:
    # (10 - 4) // 3 + 1 = 3 windows starting at 0, 3, 6; the last two samples are dropped.
    assert window_count(10, 4, 3) == 3
    assert window_count(3, 4, 1) == 0
    windows = sliding_windows(np.arange(10.0)[None], 4, 3)
    np.testing.assert_array_equal(windows[:, 0, 0], [0, 3, 6])


def test_sliding_windows_errors() -> None:
    with pytest.raises(ValueError, match=r"100 samples.*200 samples"):
        sliding_windows(np.zeros((1, 100)), 200, 10)
    with pytest.raises(ValueError, match=r"2-D \[C, T\]"):
        sliding_windows(np.zeros(100), 10, 10)
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        sliding_windows(np.zeros((1, 100)), 10, 0)
    with pytest.raises(ValueError, match=r"window_length must be an integer >= 1, got 2\.5"):
        window_count(100, 2.5, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got "):
        window_count(100, 10, np.int64(0))


def test_window_sizes_read_from_arrays_are_accepted() -> None:
    length, stride = np.int64(4), np.int32(3)  # e.g. sizes computed with NumPy from metadata
    assert window_count(10, length, stride) == 3
    windows = sliding_windows(np.arange(10.0)[None], length, stride)
    np.testing.assert_array_equal(windows[:, 0, 0], [0, 3, 6])


def test_segment_bounds_tile_the_record() -> None:
    assert segment_bounds(1000, (0.7, 0.15, 0.15)) == [(0, 700), (700, 850), (850, 1000)]
    assert segment_bounds(7, (0.5, 0.25, 0.25)) == [(0, 4), (4, 5), (5, 7)]
    with pytest.raises(ValueError, match="sum to 1"):
        segment_bounds(10, (0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="train"):
        segment_bounds(10, (0.0, 0.5, 0.5))


def test_split_record_windows_stay_inside_segments() -> None:
    signal = np.arange(1000.0)[None]  # value == sample index, so windows reveal their position
    parts = split_record_windows(
        signal, window_length=100, stride=50, split_fractions=(0.7, 0.15, 0.15)
    )
    # Hand counts: train (700-100)//50+1 = 13, val (150-100)//50+1 = 2, test 2.
    assert [len(w) for w, _ in parts] == [13, 2, 2]
    for (windows, starts), (lo, hi) in zip(parts, [(0, 700), (700, 850), (850, 1000)], strict=True):
        np.testing.assert_array_equal(windows[:, 0, 0], starts)
        assert windows.min() >= lo and windows.max() < hi


def test_split_errors_and_empty_split() -> None:
    with pytest.raises(ValueError, match=r"val segment has 15 samples.*window of 20 samples"):
        split_record_windows(np.zeros((1, 100)), 20, 5, (0.7, 0.15, 0.15))
    parts = split_record_windows(np.zeros((2, 100)), 20, 5, (0.8, 0.2, 0.0))
    assert parts[2][0].shape == (0, 2, 20)


def test_windowed_splits_normalises_with_train_statistics_only() -> None:
    rng = np.random.default_rng(0)
    signals = [rng.normal(3.0, 2.0, size=(2, 400)), rng.normal(-1.0, 0.5, size=(2, 600))]
    signals[1][:, 500:] += 100.0  # a huge offset only in record 1's test segment
    result = windowed_splits(signals, [0, 1], 50, 25, (0.6, 0.2, 0.2), normalize="standard")
    raw = windowed_splits(signals, [0, 1], 50, 25, (0.6, 0.2, 0.2), normalize="none")
    train_raw = raw.splits["train"].inputs.double().numpy()
    expected_mean = train_raw.mean(axis=(0, 2))
    expected_std = train_raw.std(axis=(0, 2))
    np.testing.assert_allclose(result.normalization.mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(result.normalization.std, expected_std, rtol=1e-6)
    for name in ("train", "val", "test"):
        want = (raw.splits[name].inputs.double().numpy() - expected_mean[:, None]) / expected_std[
            :, None
        ]
        np.testing.assert_allclose(result.splits[name].inputs.numpy(), want, rtol=1e-5, atol=1e-5)
    assert result.splits["train"].inputs.dtype == torch.float32
    # Labels and (record, start) index per split.
    index = result.window_index["test"]
    assert torch.equal(result.splits["test"].labels, index[:, 0])  # labels == record ids here
    assert (index[index[:, 0] == 1, 1] >= 480).all()


def test_channel_normalization_rejects_empty() -> None:
    with pytest.raises(ValueError, match="N > 0"):
        ChannelNormalization.fit(np.zeros((0, 1, 4)))


def test_windowed_splits_errors() -> None:
    with pytest.raises(ValueError, match="same channel count"):
        windowed_splits([np.zeros((1, 100)), np.zeros((2, 100))], [0, 1], 10, 10)
    with pytest.raises(ValueError, match="2 signals but 1 labels"):
        windowed_splits([np.zeros((1, 100)), np.zeros((1, 100))], [0], 10, 10)
    with pytest.raises(ValueError, match="normalize"):
        windowed_splits([np.zeros((1, 100))], [0], 10, 10, normalize="minmax")
