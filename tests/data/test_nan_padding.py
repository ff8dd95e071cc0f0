"""Observed timestamps and valid lengths of NaN-padded series, against a loop over the values."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab._host_sync import HostSyncCounter
from contrastlab.data.nan_padding import observed_timestamps, valid_lengths


def test_against_a_loop_over_the_values() -> None:
    x = torch.randn(4, 2, 9)
    x[0, :, 6:] = float("nan")  # padded to 9 from 6
    x[1, 1, 2] = float("nan")  # one channel missing inside: timestamp 2 is absent, length 9
    x[2] = float("nan")  # nothing observed
    x[3, 0, 8] = float("nan")
    observed = observed_timestamps(x)
    for b in range(4):
        row = [not any(math.isnan(x[b, c, t].item()) for c in range(2)) for t in range(9)]
        assert observed[b].tolist() == row
        assert valid_lengths(x)[b].item() == max((t + 1 for t in range(9) if row[t]), default=0)
    assert valid_lengths(x).tolist() == [6, 9, 0, 8] and valid_lengths(x).dtype == torch.int64


def test_no_host_reads_and_errors() -> None:
    x = torch.randn(3, 1, 5)
    with HostSyncCounter() as syncs:
        valid_lengths(x)
    assert syncs.count == 0, syncs.operations
    with pytest.raises(ValueError, match=r"series must be a tensor \[B, C, L\], got \(3, 5\)"):
        observed_timestamps(torch.randn(3, 5))
