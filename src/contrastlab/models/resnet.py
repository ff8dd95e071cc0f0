"""ResNet encoders (He et al. 2016, "Deep Residual Learning for Image Recognition",
arXiv:1512.03385).

The layout and parameter names follow SupContrast's ``networks/resnet_big.py`` (``conv1``, ``bn1``,
``layer1`` ... ``layer4``, ``shortcut.0`` / ``shortcut.1`` for a projection shortcut), so the
``encoder.*`` entries of its checkpoints load into :class:`ResNet` unchanged.

Two stems:

- ``'cifar'`` (default, as SupContrast): 3x3 convolution, stride 1, no max-pool. Total stride 8.
- ``'imagenet'``: 7x7 convolution, stride 2, then 3x3 max-pool with stride 2. Total stride 32.

Every encoder maps images ``[B, C, H, W]`` to features ``[B, feature_dim]`` after global average
pooling; ``feature_dim`` is 512 for ResNet-18/34 (BasicBlock) and 2048 for ResNet-50/101
(Bottleneck).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_choice, check_int
from contrastlab.config.choices import STEMS


def check_image_batch(name: str, images: torch.Tensor, in_channels: int, min_size: int) -> None:
    """Require a floating-point image batch ``[B, in_channels, H, W]`` with ``H, W >= min_size``.

    Only shapes and the dtype are inspected, so the check never synchronises with an accelerator.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} expects a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(
            f"{name} expects images of shape [B, C, H, W], got shape {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise ValueError(
            f"{name} expects floating-point images (normalise uint8 images first, e.g. with "
            f"EvalImageTransform), got dtype {images.dtype}"
        )
    if images.shape[1] != in_channels:
        raise ValueError(
            f"{name} was built for {in_channels} input channel(s), got images of shape "
            f"{tuple(images.shape)} with {images.shape[1]} channel(s)"
        )
    height, width = images.shape[-2:]
    if min(height, width) < min_size:
        raise ValueError(
            f"{name} needs images of at least {min_size}x{min_size} pixels (its total stride), "
            f"got {height}x{width}"
        )


def _projection_shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """Identity (an empty ``nn.Sequential``) when shapes match, else a 1x1 conv + BN projection."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a residual: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``[B, in_planes, H, W] -> [B, planes, H / stride, W / stride]``.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _projection_shortcut(in_planes, planes * self.expansion, stride)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The batch norm that ends the residual branch (zero-initialised on request)."""
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with a residual connection.

    ``[B, in_planes, H, W] -> [B, 4 * planes, H / stride, W / stride]``.
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = _projection_shortcut(in_planes, out_planes, stride)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The batch norm that ends the residual branch (zero-initialised on request)."""
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A ResNet encoder: stem, four stages (64, 128, 256, 512 planes), global average pool.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        num_blocks: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        in_channels: channels of the input images (1 for grayscale, 3 for RGB, any other count).
        stem: ``'cifar'`` (3x3 stride-1 conv, no max-pool) or ``'imagenet'`` (7x7 stride-2 conv
            and stride-2 max-pool).
        zero_init_residual: start the last BN of every residual branch at weight 0, so each block
            begins as the identity (Goyal et al. 2017, arXiv:1706.02677).

    Shapes: ``forward(x [B, in_channels, H, W]) -> [B, feature_dim]``, with
    ``feature_dim = 512 * block.expansion``. ``H`` and ``W`` must be at least ``min_input_size``
    (the total stride: 8 for the CIFAR stem, 32 for the ImageNet stem).
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        num_blocks: Sequence[int],
        in_channels: int = 3,
        stem: str = "cifar",
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        check_choice("stem", stem, STEMS)
        if len(num_blocks) != 4 or any(int(n) < 1 for n in num_blocks):
            raise ValueError(f"num_blocks must be 4 positive integers, got {list(num_blocks)}")
        check_int("in_channels", in_channels)
        self.in_channels = in_channels
        self.stem = stem
        if stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
            self.min_input_size = 8
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.min_input_size = 32
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        stages = []
        for planes, count, stride in zip(
            (64, 128, 256, 512), num_blocks, (1, 2, 2, 2), strict=True
        ):
            blocks = []
            for index in range(int(count)):
                blocks.append(block(in_planes, planes, stride if index == 0 else 1))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.feature_dim: int = in_planes
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, in_channels, H, W] float -> features [B, feature_dim]."""
        check_image_batch(type(self).__name__, x, self.in_channels, self.min_input_size)
        out = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(self.avgpool(out), 1)


def resnet18(in_channels: int = 3, stem: str = "cifar", zero_init_residual: bool = False) -> ResNet:
    """ResNet-18: BasicBlock x (2, 2, 2, 2), ``feature_dim`` 512."""
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, stem, zero_init_residual)


def resnet34(in_channels: int = 3, stem: str = "cifar", zero_init_residual: bool = False) -> ResNet:
    """ResNet-34: BasicBlock x (3, 4, 6, 3), ``feature_dim`` 512."""
    return ResNet(BasicBlock, (3, 4, 6, 3), in_channels, stem, zero_init_residual)


def resnet50(in_channels: int = 3, stem: str = "cifar", zero_init_residual: bool = False) -> ResNet:
    """ResNet-50: Bottleneck x (3, 4, 6, 3), ``feature_dim`` 2048."""
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, stem, zero_init_residual)


def resnet101(
    in_channels: int = 3, stem: str = "cifar", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-101: Bottleneck x (3, 4, 23, 3), ``feature_dim`` 2048."""
    return ResNet(Bottleneck, (3, 4, 23, 3), in_channels, stem, zero_init_residual)
