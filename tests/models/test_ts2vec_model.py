"""TS2Vec's encoder: shapes, same-length dilated blocks, the receptive field by hand, timestamp
masking only in training, the full-series max-pooled encoding and option errors."""

from __future__ import annotations

import pytest
import torch

from contrastlab.models.ts2vec import DilatedConvBlock, TS2VecEncoder


def test_paper_defaults_and_shapes() -> None:
    model = TS2VecEncoder(in_channels=3)
    assert model.feature_dim == 320 and len(model.blocks) == 11  # 10 hidden blocks + output
    assert [block.conv1.dilation[0] for block in model.blocks] == [2**i for i in range(11)]
    model.eval()
    for length in (1, 2, 7, 100):
        x = torch.randn(2, 3, length)
        assert model(x).shape == (2, length, 320)
        assert model.encode(x).shape == (2, 320)


def test_block_keeps_length_and_projects_only_when_needed() -> None:
    same = DilatedConvBlock(4, 4, kernel_size=3, dilation=8)
    assert same.residual is None and same(torch.randn(2, 4, 5)).shape == (2, 4, 5)
    assert DilatedConvBlock(4, 6, 3, 1).residual is not None
    assert DilatedConvBlock(4, 4, 3, 1, project=True).residual is not None


def test_receptive_field_by_hand() -> None:
    # Block i has two kernel-3 convolutions of dilation 2^i: each reaches 2^i steps further on
    # each side, so after blocks 0..2 timestamp t sees t - 2 (1 + 2 + 4) .. t + 14, not beyond.
    model = TS2VecEncoder(1, hidden_dim=4, repr_dim=5, depth=2, dropout=0.0).eval()
    x = torch.zeros(1, 1, 41, requires_grad=True)
    model(x)[0, 20].sum().backward()
    reached = torch.nonzero(x.grad[0, 0]).flatten()
    assert reached.min().item() >= 20 - 14 and reached.max().item() <= 20 + 14
    assert x.grad[0, 0, 20 - 14] != 0 and x.grad[0, 0, 20 + 14] != 0


def test_masking_in_training_only() -> None:
    model = TS2VecEncoder(1, hidden_dim=8, repr_dim=6, depth=1, dropout=0.0)
    x = torch.randn(4, 1, 30)
    model.train()
    torch.manual_seed(1)
    masked = model(x)
    torch.manual_seed(2)
    assert not torch.allclose(masked, model(x))  # a new mask every call
    assert torch.allclose(model(x, mask=False), model.eval()(x))
    keep = model.timestamp_mask(200, 50, torch.device("cpu"))
    assert keep.dtype == torch.bool and abs(keep.float().mean().item() - 0.5) < 0.02
    # Everything masked: the latent is all zeros, so the output no longer depends on x.
    model.mask_probability = 0.999999
    model.train()
    torch.testing.assert_close(model(x), model(torch.randn(4, 1, 30)))


def test_encode_is_the_maximum_over_time_in_eval_mode() -> None:
    model = TS2VecEncoder(2, hidden_dim=8, repr_dim=6, depth=2).eval()
    x = torch.randn(3, 2, 17)
    torch.testing.assert_close(model.encode(x), model(x).amax(dim=1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"depth": 0}, "depth must be an integer >= 1"),
        ({"repr_dim": 2.5}, "repr_dim must be an integer"),
        ({"mask_probability": 1.0}, r"mask_probability must be in \[0, 1\)"),
        ({"dropout": -0.1}, "dropout"),
    ],
)
def test_option_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TS2VecEncoder(1, **options)


def test_input_errors() -> None:
    model = TS2VecEncoder(2, hidden_dim=4, repr_dim=4, depth=1)
    with pytest.raises(ValueError, match=r"\[B, C, L\]"):
        model(torch.randn(3, 10))
    with pytest.raises(ValueError, match="built for 2 input channels, got 1"):
        model(torch.randn(3, 1, 10))


def padded(x: torch.Tensor, extra: int) -> torch.Tensor:
    """``x [1, C, L]`` followed by ``extra`` NaN timestamps."""
    return torch.cat([x, torch.full((1, x.shape[1], extra), float("nan"), dtype=x.dtype)], dim=2)


@pytest.mark.parametrize("extra", [1, 6, 45])
def test_padded_series_encodes_as_the_series_alone(extra: int) -> None:
    model = TS2VecEncoder(3, hidden_dim=8, repr_dim=6, depth=4, pyramid=(1, 2, 4, 8)).double()
    model.eval()
    x = torch.randn(1, 3, 29, dtype=torch.float64)
    others = torch.randn(2, 3, 29 + extra, dtype=torch.float64)
    batch = torch.cat([others[:1], padded(x, extra), others[1:]])  # the padded series in a batch
    alone = model(x)[0]
    outputs = model(batch)
    together = outputs[1]
    # Equal to float64 rounding (PyTorch's CPU GELU may round the last bit differently by an
    # element's position in memory; everything else is exact).
    torch.testing.assert_close(together[:29], alone, rtol=0, atol=1e-12)
    assert torch.equal(together[29:], torch.zeros(extra, 6))  # padding: zero representations
    torch.testing.assert_close(model.encode(batch)[1], model.encode(x)[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(outputs[[0, 2]], model(others), rtol=0, atol=1e-12)
    # Zero padding, which the encoder cannot tell from signal, changes the last timestamps.
    zeros = torch.cat([x, torch.zeros(1, 3, extra, dtype=x.dtype)], dim=2)
    assert (model(zeros)[0, :29] - alone).abs().max() > 1e-3


def test_padded_series_encodes_bitwise_as_alone_with_a_position_free_activation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GELU is the one operation whose CPU rounding depends on where an element lies in memory
    # (vectorised erf on full SIMD vectors, scalar erf on the tail); with ReLU in its place the
    # masked network is exact to the last bit.
    monkeypatch.setattr(torch.nn.functional, "gelu", torch.nn.functional.relu)
    model = TS2VecEncoder(3, hidden_dim=8, repr_dim=6, depth=4, pyramid=(1, 2, 4)).double()
    model.eval()
    x = torch.randn(1, 3, 29, dtype=torch.float64)
    for extra in (1, 6, 45):
        batch = torch.cat([torch.randn(1, 3, 29 + extra, dtype=torch.float64), padded(x, extra)])
        assert torch.equal(model(batch)[1, :29], model(x)[0])
        assert torch.equal(model.encode(batch)[1], model.encode(x)[0])


def test_missing_timestamps_read_as_zeros_in_every_layer() -> None:
    # A NaN inside the series (any channel) makes the timestamp absent: the result is that of a
    # network whose every convolution reads zeros there, computed here by hand block by block.
    model = TS2VecEncoder(2, hidden_dim=5, repr_dim=4, depth=2, dropout=0.0).double().eval()
    x = torch.randn(2, 2, 17, dtype=torch.float64)
    x[0, 1, 4] = float("nan")
    x[1, :, 9:11] = float("nan")
    present = ~torch.isnan(x).any(dim=1, keepdim=True)  # [B, 1, L]
    hidden = model.input_projection(torch.nan_to_num(x).transpose(1, 2)).transpose(1, 2) * present
    for block in model.blocks:
        inner = torch.nn.functional.gelu(block.conv1(torch.nn.functional.gelu(hidden))) * present
        residual = hidden if block.residual is None else block.residual(hidden)
        hidden = (block.conv2(inner) + residual) * present
    torch.testing.assert_close(model(x), hidden.transpose(1, 2), rtol=0, atol=1e-12)


def test_training_mask_keeps_padding_zero() -> None:
    model = TS2VecEncoder(1, hidden_dim=8, repr_dim=6, depth=2, dropout=0.0).train()
    x = padded(torch.randn(1, 1, 20), 7).expand(5, 1, 27)
    assert torch.equal(model(x)[:, 20:], torch.zeros(5, 7, 6))
    with pytest.raises(ValueError, match="series must be a tensor"):
        model(torch.randn(3, 20))
