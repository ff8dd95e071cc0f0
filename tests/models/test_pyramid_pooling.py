"""Temporal pyramid max pooling against a loop over hand-computed segment bounds, its gradient,
its errors, and its use as TS2Vec's instance encoding."""

from __future__ import annotations

import pytest
import torch

from contrastlab.models.pyramid_pooling import check_pyramid, temporal_pyramid_max
from contrastlab.models.signal_spec import build_signal_encoder, default_backbone_options, make_spec
from contrastlab.models.ts2vec import TS2VecEncoder


def pyramid_by_hand(r: torch.Tensor, segments: list[int]) -> torch.Tensor:
    """Segment k of s over L timestamps: the first L mod s segments hold ceil(L / s) timestamps,
    the others floor(L / s); one maximum per segment and channel, level by level."""
    batch, length, channels = r.shape
    out = torch.empty(batch, channels * sum(segments), dtype=r.dtype)
    column = 0
    for s in segments:
        start = 0
        for k in range(s):
            size = length // s + (1 if k < length % s else 0)
            for b in range(batch):
                for d in range(channels):
                    out[b, column + d] = max(r[b, t, d].item() for t in range(start, start + size))
            start, column = start + size, column + channels
        assert start == length
    return out


@pytest.mark.parametrize(
    ("length", "segments"), [(1, [1]), (7, [1, 2, 4]), (24, [1, 2, 4, 8]), (10, [3, 1]), (5, [5])]
)
def test_matches_the_loop_over_segments(length: int, segments: list[int]) -> None:
    r = torch.randn(2, length, 3, dtype=torch.float64)
    expected = pyramid_by_hand(r, segments)
    pooled = temporal_pyramid_max(r, segments)
    assert pooled.shape == (2, 3 * sum(segments))
    torch.testing.assert_close(pooled, expected)


def test_one_segment_is_the_maximum_over_time_and_levels_are_ordered() -> None:
    r = torch.randn(4, 9, 5)
    torch.testing.assert_close(temporal_pyramid_max(r, [1]), r.amax(dim=1))
    both = temporal_pyramid_max(r, [1, 2])
    torch.testing.assert_close(both[:, :5], r.amax(dim=1))
    torch.testing.assert_close(both[:, 5:10], r[:, :5].amax(dim=1))  # first half: 5 of 9
    torch.testing.assert_close(both[:, 10:], r[:, 5:].amax(dim=1))


def test_position_is_kept() -> None:
    # The same bump early or late: equal under the global maximum, told apart by the halves.
    early, late = torch.zeros(1, 8, 1), torch.zeros(1, 8, 1)
    early[0, 1, 0], late[0, 6, 0] = 1.0, 1.0
    assert torch.equal(temporal_pyramid_max(early, [1]), temporal_pyramid_max(late, [1]))
    assert not torch.equal(temporal_pyramid_max(early, [1, 2]), temporal_pyramid_max(late, [1, 2]))


def test_gradcheck() -> None:
    # Distinct values, so every maximum is unique and the function is differentiable there.
    r = (torch.randperm(2 * 11 * 3, dtype=torch.float64).reshape(2, 11, 3) / 10).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: temporal_pyramid_max(x, [1, 2, 4]), (r,))


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([], "non-empty list of segment counts"),
        ("1,2", "non-empty list of segment counts"),
        ([1, 0], "segment count of pyramid must be an integer >= 1"),
        ([1, 2.0], "segment count of pyramid must be an integer"),
    ],
)
def test_segment_errors(segments: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_pyramid(segments)  # type: ignore[arg-type]


def test_input_errors() -> None:
    with pytest.raises(ValueError, match=r"needs at least 8 timestamps, got 5"):
        temporal_pyramid_max(torch.randn(2, 5, 3), [1, 8])
    with pytest.raises(ValueError, match=r"representations \[B, L, D\]"):
        temporal_pyramid_max(torch.randn(5, 3), [1])


def test_ts2vec_encoder_pools_its_pyramid() -> None:
    model = TS2VecEncoder(1, hidden_dim=8, repr_dim=6, depth=2, pyramid=[1, 2, 4]).eval()
    assert model.feature_dim == 6 * 7
    x = torch.randn(3, 1, 20)
    torch.testing.assert_close(model.encode(x), temporal_pyramid_max(model(x), [1, 2, 4]))
    with pytest.raises(ValueError, match="segment count"):
        TS2VecEncoder(1, pyramid=[2, -1])


def test_spec_carries_the_pyramid_and_checks_the_length() -> None:
    options = default_backbone_options("ts2vec", 24, ts2vec_pyramid=(1, 2, 4, 8))
    assert options["pyramid"] == [1, 2, 4, 8]
    spec = make_spec("ts2vec", "raw", 1, 24, backbone_options=options)
    encoder = build_signal_encoder(spec).eval()  # what a checkpoint's model_spec rebuilds
    assert encoder.feature_dim == 320 * 15 and encoder(torch.randn(2, 1, 24)).shape == (2, 4800)
    with pytest.raises(ValueError, match="--ts2vec_pyramid 1,16 pools series of 12 timestamps"):
        default_backbone_options("ts2vec", 12, ts2vec_pyramid=[1, 16])


def random_mask(batch: int, length: int, minimum: int, generator: torch.Generator) -> torch.Tensor:
    """A mask ``[B, L]`` with at least ``minimum`` valid timestamps per row, gaps anywhere."""
    valid = torch.rand(batch, length, generator=generator) < 0.6
    valid[:, :minimum] = True
    return valid[:, torch.randperm(length, generator=generator)]


@pytest.mark.parametrize("segments", [[1], [1, 2, 4], [3, 1], [5]])
def test_masked_pooling_pools_each_series_over_its_valid_timestamps(segments: list[int]) -> None:
    generator = torch.Generator().manual_seed(sum(segments))
    r = torch.randn(4, 13, 3, dtype=torch.float64)
    valid = random_mask(4, 13, max(segments), generator)
    pooled = temporal_pyramid_max(r.masked_fill(~valid[..., None], 1e6), segments, valid=valid)
    for b in range(4):  # the series' valid timestamps alone, pooled by the loop
        expected = pyramid_by_hand(r[b, valid[b]].unsqueeze(0), segments)[0]
        assert torch.equal(pooled[b], expected)


def test_masked_pooling_of_padding_all_valid_and_gradient() -> None:
    r = torch.randn(3, 17, 4)
    every = torch.ones(3, 17, dtype=torch.bool)
    assert torch.equal(temporal_pyramid_max(r, [1, 2, 4, 8], valid=every),
                       temporal_pyramid_max(r, [1, 2, 4, 8]))  # fmt: skip
    lengths = torch.tensor([17, 8, 11])
    valid = torch.arange(17) < lengths[:, None]  # padding at the end, as the loaders pad
    pooled = temporal_pyramid_max(r, [1, 2, 4, 8], valid=valid)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(pooled[b], temporal_pyramid_max(r[b : b + 1, :n], [1, 2, 4, 8])[0])
    distinct = torch.randperm(2 * 11 * 3, dtype=torch.float64).reshape(2, 11, 3) / 10
    gappy = torch.ones(2, 11, dtype=torch.bool)
    gappy[0, 3], gappy[1, 7:] = False, False
    assert torch.autograd.gradcheck(
        lambda x: temporal_pyramid_max(x, [1, 2, 4], valid=gappy), (distinct.requires_grad_(),)
    )


def test_masked_pooling_reads_nothing_on_the_host_and_checks_the_mask() -> None:
    from contrastlab._host_sync import HostSyncCounter

    r, valid = torch.randn(2, 9, 3), torch.ones(2, 9, dtype=torch.bool)
    with HostSyncCounter() as syncs:
        temporal_pyramid_max(r, [1, 2, 4], valid=valid)
    assert syncs.count == 0, syncs.operations
    with pytest.raises(ValueError, match=r"valid must be a bool mask \[B, L\] = \[2, 9\]"):
        temporal_pyramid_max(r, [1], valid=valid[:, :8])
    with pytest.raises(ValueError, match="valid must be a bool mask"):
        temporal_pyramid_max(r, [1], valid=valid.float())
