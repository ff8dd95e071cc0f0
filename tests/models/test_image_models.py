"""Image encoders, projection heads and SupContrast's networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from contrastlab.models import (
    ENCODER_NAMES,
    BasicBlock,
    Bottleneck,
    LinearClassifier,
    ProjectionHead,
    ResNet,
    SmallConvNet,
    SupCEResNet,
    SupConResNet,
    build_encoder,
    encoder_feature_dim,
    linear_head,
    mlp_head,
    resnet18,
    resnet50,
)

STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
LAYOUTS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _conv(kernel: int, c_in: int, c_out: int) -> int:
    return kernel * kernel * c_in * c_out


def _bn(channels: int) -> int:
    return 2 * channels


def _formula_parameter_count(name: str, in_channels: int, stem_kernel: int) -> int:
    """Parameter count from the ResNet paper's architecture table, written out by hand."""
    kind, num_blocks = LAYOUTS[name]
    expansion = 1 if kind == "basic" else 4
    total = _conv(stem_kernel, in_channels, 64) + _bn(64)
    c_in = 64
    for planes, count, stride in zip(STAGE_PLANES, num_blocks, STAGE_STRIDES, strict=True):
        for index in range(count):
            s = stride if index == 0 else 1
            c_out = planes * expansion
            if kind == "basic":
                total += (
                    _conv(3, c_in, planes) + _bn(planes) + _conv(3, planes, planes) + _bn(planes)
                )
            else:
                total += _conv(1, c_in, planes) + _bn(planes)
                total += _conv(3, planes, planes) + _bn(planes)
                total += _conv(1, planes, c_out) + _bn(c_out)
            if s != 1 or c_in != c_out:
                total += _conv(1, c_in, c_out) + _bn(c_out)
            c_in = c_out
    return total


def _reference_encoder_keys(name: str) -> set[str]:
    """Parameter names of SupContrast's ``networks/resnet_big.py`` encoder, by its naming rules."""
    kind, num_blocks = LAYOUTS[name]
    expansion = 1 if kind == "basic" else 4
    n_convs = 2 if kind == "basic" else 3
    keys = {"conv1.weight", "bn1.weight", "bn1.bias"}
    c_in = 64
    for stage, (planes, count, stride) in enumerate(
        zip(STAGE_PLANES, num_blocks, STAGE_STRIDES, strict=True), start=1
    ):
        for index in range(count):
            prefix = f"layer{stage}.{index}."
            for conv in range(1, n_convs + 1):
                keys |= {
                    f"{prefix}conv{conv}.weight",
                    f"{prefix}bn{conv}.weight",
                    f"{prefix}bn{conv}.bias",
                }
            s = stride if index == 0 else 1
            if s != 1 or c_in != planes * expansion:
                keys |= {
                    f"{prefix}shortcut.0.weight",
                    f"{prefix}shortcut.1.weight",
                    f"{prefix}shortcut.1.bias",
                }
            c_in = planes * expansion
    return keys


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101"])
def test_resnet_shapes_feature_dims_and_parameter_names(name: str) -> None:
    encoder = build_encoder(name)
    expected_dim = 512 if LAYOUTS[name][0] == "basic" else 2048
    assert encoder.feature_dim == expected_dim == encoder_feature_dim(name)
    side = 32 if name == "resnet18" else 8  # keep the deeper nets fast on CPU
    out = encoder(torch.randn(2, 3, side, side))
    assert out.shape == (2, expected_dim)
    assert torch.isfinite(out).all()
    assert _count(encoder) == _formula_parameter_count(name, 3, stem_kernel=3)
    assert {k for k, _ in encoder.named_parameters()} == _reference_encoder_keys(name)


def test_parameter_counts_match_published_values() -> None:
    # CIFAR ResNet-18 / -50 (kuangliu/pytorch-cifar, as SupContrast): 11,173,962 and 23,520,842
    # parameters with a 10-class fc layer.
    assert _count(resnet18()) + (512 * 10 + 10) == 11_173_962
    assert _count(resnet50()) + (2048 * 10 + 10) == 23_520_842
    # ImageNet stem = torchvision's resnet18 / resnet50 (11,689,512 / 25,557,032) minus their fc.
    assert _count(resnet18(stem="imagenet")) == 11_689_512 - (512 * 1000 + 1000)
    assert _count(resnet50(stem="imagenet")) == 25_557_032 - (2048 * 1000 + 1000)
    assert _count(resnet18(in_channels=1)) == _formula_parameter_count("resnet18", 1, stem_kernel=3)


def test_imagenet_stem_downsamples_by_32() -> None:
    encoder = resnet18(stem="imagenet").eval()
    assert isinstance(encoder.maxpool, nn.MaxPool2d)
    captured: dict[str, torch.Size] = {}
    encoder.layer4.register_forward_hook(lambda m, i, o: captured.update(shape=o.shape))
    assert encoder(torch.randn(2, 3, 64, 64)).shape == (2, 512)
    assert captured["shape"] == (2, 512, 2, 2)
    with pytest.raises(ValueError, match="at least 32x32"):
        encoder(torch.randn(2, 3, 16, 16))


def test_cifar_stem_keeps_resolution_until_layer2() -> None:
    encoder = resnet18().eval()
    shapes: list[torch.Size] = []
    for layer in (encoder.layer1, encoder.layer4):
        layer.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    encoder(torch.randn(1, 3, 32, 32))
    assert shapes == [(1, 64, 32, 32), (1, 512, 4, 4)]


def test_any_number_of_input_channels() -> None:
    for channels in (1, 4):
        encoder = build_encoder("resnet18", in_channels=channels)
        assert encoder(torch.randn(2, channels, 8, 8)).shape == (2, 512)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.randn(3, 32, 32), r"\[B, C, H, W\]"),
        (torch.randn(2, 1, 32, 32), "3 input channel"),
        (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "floating-point"),
        (torch.randn(2, 3, 4, 32), "at least 8x8"),
    ],
)
def test_resnet_rejects_bad_inputs(images: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resnet18()(images)


def test_resnet_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="stem"):
        resnet18(stem="tiny")
    with pytest.raises(ValueError, match="in_channels"):
        resnet18(in_channels=0)
    with pytest.raises(ValueError, match="num_blocks"):
        ResNet(BasicBlock, (2, 2, 2))


def test_zero_init_residual_makes_every_block_start_as_identity() -> None:
    encoder = resnet50(zero_init_residual=True).eval()
    blocks = [m for m in encoder.modules() if isinstance(m, Bottleneck)]
    assert blocks and all(torch.all(b.bn3.weight == 0) for b in blocks)
    block = encoder.layer1[1]  # identity shortcut
    x = torch.randn(2, 256, 8, 8)
    torch.testing.assert_close(block(x), F.relu(x))
    assert all(torch.all(b.bn2.weight == 1) for b in blocks)
    basic = [m for m in resnet18(zero_init_residual=True).modules() if isinstance(m, BasicBlock)]
    assert all(torch.all(b.bn2.weight == 0) for b in basic)
    assert all(
        torch.all(b.bn2.weight == 1) for b in resnet18().modules() if isinstance(b, BasicBlock)
    )


def test_small_conv_net() -> None:
    encoder = SmallConvNet(in_channels=1, width=8)
    assert encoder.feature_dim == 32
    for side in (4, 8, 32):
        assert encoder(torch.randn(3, 1, side, side)).shape == (3, 32)
    with pytest.raises(ValueError, match="at least 4x4"):
        encoder(torch.randn(3, 1, 2, 2))
    with pytest.raises(ValueError, match="1 input channel"):
        encoder(torch.randn(3, 3, 8, 8))
    with pytest.raises(ValueError, match="width"):
        SmallConvNet(1, width=0)
    default = build_encoder("smallcnn", in_channels=1)
    assert default.feature_dim == encoder_feature_dim("smallcnn")
    # It trains: a gradient reaches the first convolution.
    default(torch.randn(4, 1, 8, 8)).sum().backward()
    assert default.features[0][0].weight.grad is not None


def test_registry_errors() -> None:
    assert set(ENCODER_NAMES) == {"resnet18", "resnet34", "resnet50", "resnet101", "smallcnn"}
    with pytest.raises(ValueError, match="resnet18, resnet34, resnet50, resnet101, smallcnn"):
        build_encoder("vgg16")
    with pytest.raises(ValueError, match="vgg16"):
        encoder_feature_dim("vgg16")
    with pytest.raises(ValueError, match="smallcnn has no 'imagenet' stem"):
        build_encoder("smallcnn", stem="imagenet")


def test_projection_heads() -> None:
    head = mlp_head(16, 32, 8)
    assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert set(head.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert head(torch.randn(5, 16)).shape == (5, 8)
    bn_head = mlp_head(16, 32, 8, batch_norm=True)
    assert [type(m) for m in bn_head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert bn_head[0].bias is None  # the BN shift replaces the bias
    three = ProjectionHead(
        [(4, 6, None, nn.ReLU()), (6, 6, nn.BatchNorm1d(6), nn.GELU()), (6, 2, None, None)]
    )
    assert (three.in_dim, three.out_dim) == (4, 2)
    assert three(torch.randn(3, 4)).shape == (3, 2)
    with pytest.raises(ValueError, match=r"shape \[B, 16\]"):
        head(torch.randn(5, 15))
    with pytest.raises(ValueError, match="block 1 takes in_dim=5 but block 0 gives 6"):
        ProjectionHead([(4, 6, None, None), (5, 2, None, None)])
    with pytest.raises(ValueError, match="at least one block"):
        ProjectionHead([])
    with pytest.raises(ValueError, match="out_dim"):
        linear_head(4, 0)


def test_linear_head_loads_a_bare_linear_state_dict() -> None:
    # SupContrast's head='linear' is a bare nn.Linear: keys 'head.weight' / 'head.bias'.
    reference = nn.Linear(16, 4)
    head = linear_head(16, 4)
    head.load_state_dict(reference.state_dict())
    x = torch.randn(3, 16)
    torch.testing.assert_close(head(x), reference(x))


def test_supcon_resnet_output_is_unit_norm_and_keys_match_reference() -> None:
    model = SupConResNet("resnet18", head="mlp", feat_dim=32)
    z = model(torch.randn(4, 3, 8, 8))
    assert z.shape == (4, 32)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))
    keys = set(model.state_dict())
    expected_params = {f"encoder.{k}" for k in _reference_encoder_keys("resnet18")}
    expected_params |= {"head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"}
    assert {k for k, _ in model.named_parameters()} == expected_params
    assert {"encoder.bn1.running_mean", "encoder.layer2.0.shortcut.1.running_var"} <= keys
    assert model.head[0].weight.shape == (512, 512)
    linear = SupConResNet("resnet18", head="linear", feat_dim=16, in_channels=1)
    assert linear(torch.randn(2, 1, 8, 8)).shape == (2, 16)
    state = {k.replace("head.0.", "head."): v for k, v in linear.state_dict().items()}
    assert "head.weight" in state
    SupConResNet("resnet18", head="linear", feat_dim=16, in_channels=1).load_state_dict(state)
    with pytest.raises(ValueError, match="head must be one of"):
        SupConResNet("resnet18", head="conv")


def test_supcon_resnet_normalises_in_float32_under_autocast() -> None:
    model = SupConResNet("smallcnn", feat_dim=8, in_channels=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = model(torch.randn(3, 1, 8, 8))
    assert z.dtype == torch.float32
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    assert model.double()(torch.randn(2, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64


def test_supce_resnet_and_linear_classifier() -> None:
    model = SupCEResNet("resnet18", num_classes=7, in_channels=1)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 7)
    assert {"fc.weight", "fc.bias", "encoder.conv1.weight"} <= set(model.state_dict())
    assert model.fc.in_features == 512
    probe = LinearClassifier(name="resnet50", num_classes=10)
    assert probe.fc.weight.shape == (10, 2048)
    assert set(probe.state_dict()) == {"fc.weight", "fc.bias"}
    assert LinearClassifier(feature_dim=64, num_classes=3)(torch.randn(5, 64)).shape == (5, 3)
    with pytest.raises(ValueError, match="exactly one of name"):
        LinearClassifier()
    with pytest.raises(ValueError, match="exactly one of name"):
        LinearClassifier(name="resnet18", feature_dim=512)
    with pytest.raises(ValueError, match=r"\[B, 64\]"):
        LinearClassifier(feature_dim=64)(torch.randn(5, 63))
    with pytest.raises(ValueError, match="num_classes"):
        SupCEResNet("smallcnn", num_classes=0)
