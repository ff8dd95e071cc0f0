"""1-D encoders (WDCNN, ResNet1d) and the CPC model: shapes from the papers, length arithmetic
against real forward passes, parameter counts by hand, causality of the context network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlab.losses.cpc import CPCLoss
from contrastlab.models.cpc import CPC
from contrastlab.models.resnet1d import BasicBlock1d, ResNet1d, resnet1d18
from contrastlab.models.wdcnn import WDCNN


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_wdcnn_paper_shapes() -> None:
    model = WDCNN(in_channels=1).eval()
    x = torch.randn(3, 1, 2048)
    # Zhang et al. 2017, Table 1: 2048 -> conv 128 -> ... -> last pooling 3 steps x 64 kernels.
    first = model.features[0](x)
    assert first.shape == (3, 16, 128)
    assert model.forward_features(x).shape == (3, 64, 3)
    assert model(x).shape == (3, 64) and model.feature_dim == 64
    assert WDCNN(3, fc_dim=100).eval()(torch.randn(2, 3, 2048)).shape == (2, 100)


@pytest.mark.parametrize(
    "model_factory",
    [lambda: WDCNN(2), lambda: ResNet1d(2, widths=(8, 16, 32), blocks_per_stage=(1, 1, 1))],
)
def test_output_length_arithmetic_matches_forward(model_factory) -> None:
    model = model_factory().eval()
    minimum = model.min_input_length
    for length in (minimum, minimum + 7, 2 * minimum + 3, 2048, 3001):
        out = model.forward_features(torch.randn(1, 2, length))
        assert out.shape[-1] == model.output_length(length)
    if model.min_input_length > 1:
        assert model.output_length(model.min_input_length - 1) < 1
        with pytest.raises(ValueError, match=f"at least {model.min_input_length} samples"):
            model(torch.randn(1, 2, model.min_input_length - 1))


def test_wdcnn_minimum_length_by_hand() -> None:
    # L // 16 after the wide layer (for L >= 16), four halvings to L // 256, and the unpadded last
    # convolution needs 4 steps before its pool: L // 256 >= 4, so L >= 1024.
    assert WDCNN().min_input_length == 1024


def test_input_errors() -> None:
    model = WDCNN(in_channels=2)
    with pytest.raises(ValueError, match=r"\[B, C, L\].*unsqueeze"):
        model(torch.randn(4, 2048))
    with pytest.raises(ValueError, match="built for 2 input channels, got 1"):
        model(torch.randn(4, 1, 2048))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.ones(4, 2, 2048, dtype=torch.int64))
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1, got 0"):
        WDCNN(in_channels=0)
    with pytest.raises(ValueError, match=r"each of widths must be an integer >= 1, got 8\.0"):
        WDCNN(widths=(16, 8.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2 convolutions"):
        WDCNN(widths=(16,))
    with pytest.raises(ValueError, match="each of blocks_per_stage must be an integer >= 1"):
        ResNet1d(widths=(8, 16), blocks_per_stage=(1, 0))
    with pytest.raises(ValueError, match="same length"):
        ResNet1d(widths=(8, 16), blocks_per_stage=(1,))


def test_resnet1d_parameter_count_by_hand() -> None:
    model = ResNet1d(in_channels=2, widths=(4, 8), blocks_per_stage=(1, 1), stem_kernel_size=3)
    # stem 2*4*3 + BN 8 = 32; block 4->4: 2 * 4*4*3 + 2 BN * 8 = 112;
    # block 4->8 stride 2: 4*8*3 + 8*8*3 + 2 BN * 16 + shortcut 4*8 + BN 16 = 368. Total 512.
    assert sum(p.numel() for p in model.parameters()) == 512
    assert model.feature_dim == 8
    big = resnet1d18(in_channels=1)
    assert big.feature_dim == 512
    assert sum(isinstance(m, BasicBlock1d) for m in big.modules()) == 8


def test_encoders_train_and_are_batch_independent_in_eval() -> None:
    for model in (
        WDCNN(1, widths=(8, 8, 8, 8, 8)),
        ResNet1d(1, widths=(8, 16), blocks_per_stage=(1, 1)),
    ):
        x = torch.randn(4, 1, 1024)
        model.train()
        model(x).pow(2).mean().backward()
        assert all(p.grad is not None for p in model.parameters())
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x)[:2], model(x[:2]))
        assert model(x.double().float()).dtype == torch.float32


def test_cpc_shapes_and_representation() -> None:
    model = CPC(in_channels=2, latent_dim=16, context_dim=24)
    x = torch.randn(3, 2, 1024)
    z, context = model(x)
    assert model.downsampling == 32 and model.output_length(1024) == 32
    assert z.shape == (3, 32, 16) and context.shape == (3, 32, 24)
    assert model.encode(x).shape == (3, 24) and model.feature_dim == 24
    torch.testing.assert_close(model.encode(x), context.mean(dim=1))
    last = CPC(2, 16, 24, pooling="last")
    last.load_state_dict(model.state_dict())
    torch.testing.assert_close(last.encode(x), context[:, -1])
    assert not any("predictor" in k for k in model.state_dict())  # the loss is the method's


def test_cpc_context_is_causal() -> None:
    """c_t depends on z_<=t only: changing the second half of the input leaves early contexts."""
    model = CPC(1, 16, 16).eval()
    x = torch.randn(2, 1, 1024)
    y = x.clone()
    y[..., 512:] = torch.randn(2, 1, 512)
    _, cx = model(x)
    _, cy = model(y)
    torch.testing.assert_close(cx[:, :12], cy[:, :12])
    assert not torch.allclose(cx[:, -1], cy[:, -1])


def test_cpc_loss_gradients_and_errors() -> None:
    model = CPC(1, 16, 16)
    criterion = CPCLoss(16, 16, prediction_steps=3, n_negatives=5)
    z, context = model(torch.randn(4, 1, 512))
    loss, accuracy = criterion(z, context, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and accuracy.shape == (3,)
    loss.backward()
    assert all(p.grad is not None for p in [*model.parameters(), *criterion.parameters()])
    with pytest.raises(ValueError, match=r"T = 3 <= K = 3"):
        criterion(*model(torch.randn(2, 1, 96)))
    with pytest.raises(ValueError, match="kernel must be >= its stride"):
        CPC(kernel_sizes=(2,), strides=(4,))


def test_cpc_learns_to_predict_a_periodic_signal() -> None:
    """On noisy sinusoids with random phase and frequency, a few Adam steps lift the
    future-prediction accuracy far above chance (1 / (N + 1) = 1/8)."""
    model = CPC(1, 16, 16, kernel_sizes=(8, 4), strides=(4, 4))
    criterion = CPCLoss(16, 16, prediction_steps=2, n_negatives=7)
    optimizer = torch.optim.Adam([*model.parameters(), *criterion.parameters()], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(256, dtype=torch.float32)
    for _ in range(40):
        freq = 0.01 + 0.05 * torch.rand(8, 1, 1, generator=generator)
        phase = 6.28 * torch.rand(8, 1, 1, generator=generator)
        x = torch.sin(freq * t + phase) + 0.1 * torch.randn(8, 1, 256, generator=generator)
        loss, accuracy = criterion(*model(x), generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert accuracy.mean().item() > 0.4
    assert isinstance(model.g_ar, nn.GRU)
