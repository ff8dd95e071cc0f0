"""TS2Vec's overlapping crops: every draw keeps both views inside the series, the overlap aligned
(view 1 ends with it, view 2 starts with it) and at least ``min_overlap`` long."""

from __future__ import annotations

import pytest
import torch

from contrastlab.data.overlapping_crops import sample_overlapping_crops, take_crops


@pytest.mark.parametrize(("length", "min_overlap"), [(2, 2), (9, 2), (40, 4)])
def test_crops_stay_inside_and_overlap_aligned(length: int, min_overlap: int) -> None:
    generator = torch.Generator().manual_seed(length)
    series = torch.arange(length, dtype=torch.float64).expand(6, 2, length)  # value = timestamp
    overlaps = set()
    for _ in range(200):
        crops = sample_overlapping_crops(6, length, min_overlap, generator=generator)
        assert min_overlap <= crops.overlap <= min(crops.view1_length, crops.view2_length)
        view1 = take_crops(series, crops.view1_starts, crops.view1_length)
        view2 = take_crops(series, crops.view2_starts, crops.view2_length)
        assert view1.shape == (6, 2, crops.view1_length)
        torch.testing.assert_close(view1[..., -crops.overlap :], view2[..., : crops.overlap])
        overlaps.add(crops.overlap)
    assert overlaps == set(range(min_overlap, length + 1))  # every overlap length is drawn


def test_series_get_their_own_offsets() -> None:
    crops = sample_overlapping_crops(64, 100, generator=torch.Generator().manual_seed(0))
    assert len(set(crops.view1_starts.tolist())) > 1 or crops.view1_length == 100
    torch.testing.assert_close(
        crops.view2_starts - crops.view1_starts,
        torch.full((64,), crops.view1_length - crops.overlap),
    )


def test_take_crops_rows_by_hand() -> None:
    x = torch.arange(12.0).view(2, 1, 6)
    out = take_crops(x, torch.tensor([0, 3]), 3)
    assert out.tolist() == [[[0.0, 1.0, 2.0]], [[9.0, 10.0, 11.0]]]


def test_errors() -> None:
    with pytest.raises(ValueError, match="shorter than the minimum overlap 4"):
        sample_overlapping_crops(2, 3, min_overlap=4)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        sample_overlapping_crops(0, 10)
    with pytest.raises(ValueError, match="must lie inside series of 6 steps"):
        take_crops(torch.zeros(2, 1, 6), torch.tensor([0, 4]), 3)
    with pytest.raises(ValueError, match=r"x \[B, C, L\] and starts \[B\]"):
        take_crops(torch.zeros(2, 6), torch.tensor([0, 1]), 3)
