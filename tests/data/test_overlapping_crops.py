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


def test_unequal_lengths_crop_inside_each_series() -> None:
    generator = torch.Generator().manual_seed(3)
    lengths = torch.tensor([12, 5, 30, 9, 30, 4])
    series = torch.arange(30, dtype=torch.float64).expand(6, 1, 30).clone()  # value = timestamp
    series[torch.arange(30) >= lengths[:, None, None].expand(6, 1, 30)] = float("nan")
    lowest = torch.full((6,), 1000)
    highest = torch.zeros(6, dtype=torch.long)
    for _ in range(300):
        crops = sample_overlapping_crops(6, 30, 2, generator=generator, lengths=lengths)
        # One geometry for the batch, drawn for its shortest series (4 timestamps).
        assert crops.overlap >= 2 and max(crops.view1_length, crops.view2_length) <= 4
        view1 = take_crops(series, crops.view1_starts, crops.view1_length)
        view2 = take_crops(series, crops.view2_starts, crops.view2_length)
        assert not view1.isnan().any() and not view2.isnan().any()  # no padding in any view
        torch.testing.assert_close(view1[..., -crops.overlap :], view2[..., : crops.overlap])
        lowest = torch.minimum(lowest, crops.view1_starts)
        highest = torch.maximum(highest, crops.view2_starts + crops.view2_length)
    # Over many draws the views reach both ends of every series, and no further.
    assert lowest.tolist() == [0] * 6 and highest.tolist() == lengths.tolist()


@pytest.mark.parametrize("common", [7, 30])
def test_equal_lengths_draw_what_the_common_length_draws(common: int) -> None:
    with_lengths = sample_overlapping_crops(
        5, 30, generator=torch.Generator().manual_seed(9), lengths=torch.full((5,), common)
    )
    plain = sample_overlapping_crops(5, common, generator=torch.Generator().manual_seed(9))
    assert with_lengths.overlap == plain.overlap
    assert with_lengths.view1_length == plain.view1_length
    assert torch.equal(with_lengths.view1_starts, plain.view1_starts)
    assert torch.equal(with_lengths.view2_starts, plain.view2_starts)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (torch.tensor([3, 31]), r"lengths must lie in \[1, 30\]"),
        (torch.tensor([0, 4]), r"lengths must lie in \[1, 30\]"),
        (torch.tensor([3.0, 4.0]), "CPU integer tensor"),
        (torch.tensor([3, 4, 5]), r"\[B\] = \[2\]"),
        (torch.tensor([1, 4]), "series of 1 timestamps are shorter than the minimum overlap 2"),
    ],
)
def test_length_errors(lengths: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample_overlapping_crops(2, 30, lengths=lengths)
