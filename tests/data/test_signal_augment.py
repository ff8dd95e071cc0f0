"""Signal augmentations, each checked against what it must do to every sample (loop references)."""

from __future__ import annotations

import pytest
import torch

from contrastlab.data.signal_augment import (
    FrequencyMasking,
    Jitter,
    Permutation,
    RandomCrop,
    RandomSignalAugment,
    Scaling,
    TimeMasking,
    TimeShift,
    default_signal_augment,
    frequency_mask,
    jitter,
    permute_segments,
    random_crop,
    scale,
    time_mask,
    time_shift,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _ramp(batch: int = 6, channels: int = 2, length: int = 40) -> torch.Tensor:
    """Distinct positive values, channel c = 1000 c + t + 1, so positions can be read back."""
    t = torch.arange(length, dtype=torch.float64) + 1
    return (
        (t + 1000 * torch.arange(channels, dtype=torch.float64)[:, None])
        .expand(batch, -1, -1)
        .clone()
    )


def test_jitter_and_scaling_statistics() -> None:
    x = torch.zeros(200, 2, 500)
    noise = jitter(x, 0.3)
    assert noise.std().item() == pytest.approx(0.3, rel=0.02) and abs(noise.mean().item()) < 0.01
    assert torch.equal(jitter(x + 1, 0.0), x + 1)
    y = torch.randn(300, 3, 50, dtype=torch.float64)
    scaled = scale(y, 0.2)
    factors = scaled / y
    # One factor per sample and channel, constant over time, ~ N(1, 0.2^2).
    torch.testing.assert_close(factors, factors[:, :, :1].expand_as(factors))
    assert factors[:, :, 0].std().item() == pytest.approx(0.2, rel=0.1)
    assert factors[:, :, 0].mean().item() == pytest.approx(1.0, abs=0.03)
    assert scaled.dtype == torch.float64


@pytest.mark.parametrize("mode", ["circular", "pad"])
def test_time_shift_is_a_shift_of_each_sample(mode: str) -> None:
    x = _ramp()
    y = time_shift(x, 7, mode)
    for b in range(x.shape[0]):
        matches = []
        for s in range(-7, 8):
            reference = torch.roll(x[b], s, dims=-1)
            if mode == "pad":
                reference = reference.clone()
                if s > 0:
                    reference[:, :s] = 0
                elif s < 0:
                    reference[:, s:] = 0
            matches.append(torch.equal(y[b], reference))
        assert any(matches)
    assert torch.equal(time_shift(x, 0, mode), x)
    with pytest.raises(ValueError, match="mode"):
        time_shift(x, 3, "reflect")


def test_random_crop_takes_contiguous_slices() -> None:
    x = _ramp()
    y = random_crop(x, 15)
    assert y.shape == (6, 2, 15)
    for b in range(6):
        start = int(y[b, 0, 0].item()) - 1
        torch.testing.assert_close(y[b], x[b, :, start : start + 15])
    with pytest.raises(ValueError, match="crop_length"):
        random_crop(x, 41)
    assert RandomCrop(10)(x).shape == (6, 2, 10)


def test_time_mask_zeroes_one_short_span_in_all_channels() -> None:
    x = _ramp(batch=50)
    y = time_mask(x, 0.25)
    for b in range(50):
        zero = (y[b] == 0).all(dim=0)
        assert torch.equal(y[b][:, ~zero], x[b][:, ~zero])
        idx = zero.nonzero().flatten()
        assert len(idx) <= 10
        if len(idx):
            assert torch.equal(idx, torch.arange(idx[0], idx[0] + len(idx)))
    assert (y == 0).any()


def test_frequency_mask_zeroes_one_band() -> None:
    x = torch.randn(30, 2, 64, dtype=torch.float64)
    y = frequency_mask(x, 0.2)
    fx, fy = torch.fft.rfft(x), torch.fft.rfft(y)
    for b in range(30):
        zero = (fy[b].abs() < 1e-9).all(dim=0)
        torch.testing.assert_close(fy[b][:, ~zero], fx[b][:, ~zero])
        idx = zero.nonzero().flatten()
        assert len(idx) <= int(0.2 * 33)
        if len(idx):
            assert torch.equal(idx, torch.arange(idx[0], idx[0] + len(idx)))
    torch.testing.assert_close(frequency_mask(x, 0.0), x)
    half = frequency_mask(x.to(torch.bfloat16), 0.2)
    assert half.dtype == torch.bfloat16


def test_permutation_reorders_contiguous_segments() -> None:
    x = _ramp(batch=40)
    y = permute_segments(x, 4)
    changed = 0
    for b in range(40):
        # Same values; channels moved alike; at most 3 cuts, so at most 3 jumps in the ramp.
        assert torch.equal(y[b].sort(dim=-1).values, x[b])
        torch.testing.assert_close(
            y[b, 1] - y[b, 0], torch.full((40,), 1000.0, dtype=torch.float64)
        )
        jumps = (y[b, 0, 1:] - y[b, 0, :-1] != 1).sum().item()
        assert jumps <= 3
        changed += int(not torch.equal(y[b], x[b]))
    assert changed > 20
    with pytest.raises(ValueError, match="max_segments"):
        permute_segments(x, 1)


def test_random_signal_augment_probabilities() -> None:
    x = torch.randn(2000, 1, 32)
    assert torch.equal(RandomSignalAugment([Jitter(1.0)], probabilities=0.0)(x), x)
    y = RandomSignalAugment([Scaling(0.5), TimeMasking(0.2)], probabilities=[0.5, 0.0])(x)
    fraction = (y != x).any(dim=2).float().mean().item()
    assert fraction == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="changes the shape"):
        RandomSignalAugment([RandomCrop(16)], probabilities=0.5)(x)
    with pytest.raises(ValueError, match="1 probabilities for 2"):
        RandomSignalAugment([Jitter(), Scaling()], probabilities=[0.5])
    with pytest.raises(ValueError, match="3-D"):
        Jitter()(torch.randn(4, 32))


def test_modules_keep_shape_dtype_and_device() -> None:
    x = torch.randn(8, 3, 128)
    modules = [
        Jitter(0.1),
        Scaling(0.1),
        TimeShift(10, "pad"),
        TimeMasking(0.1),
        FrequencyMasking(0.1),
        Permutation(5),
        default_signal_augment(128),
    ]
    for module in modules:
        for dtype in (torch.float32, torch.float64):
            out = module(x.to(dtype))
            assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
            assert torch.isfinite(out).all()
