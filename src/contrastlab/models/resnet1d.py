"""A 1-D ResNet for signals ``[B, C, L]`` (He et al. 2016, with 1-D convolutions).

Stem (convolution ``stem_kernel_size`` / ``stem_stride``, BN, ReLU, optional max-pool 3/2), then
one stage per entry of ``widths`` made of ``blocks_per_stage`` :class:`BasicBlock1d` (the first of
every stage but the first halves the length), then global average pooling over time.
``feature_dim = widths[-1]``. The defaults are a ResNet-18 in 1-D.

Also home of :func:`check_signal_batch` and :func:`conv_output_length`, shared by the 1-D encoders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from contrastlab._checks import check_float_tensor, check_int


def conv_output_length(length: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling layer: ``(L + 2p - k) // s + 1`` (<= 0: none)."""
    return (length + 2 * padding - kernel_size) // stride + 1


def minimum_length(output_length: Callable[[int], int], limit: int = 1 << 20) -> int:
    """Smallest input length ``L`` with ``output_length(L) >= 1`` (monotone), by bisection."""
    low, high = 1, limit
    if output_length(high) < 1:
        raise ValueError(f"the network produces no output for any input up to {limit} samples")
    while low < high:
        middle = (low + high) // 2
        if output_length(middle) >= 1:
            high = middle
        else:
            low = middle + 1
    return low


def check_signal_batch(model_name: str, x: object, in_channels: int, min_length: int) -> None:
    """Require a float tensor ``[B, in_channels, L]`` with ``L >= min_length``."""
    if isinstance(x, torch.Tensor) and x.dim() != 3:
        raise ValueError(
            f"{model_name} expects signals [B, C, L] (3-D), got shape {tuple(x.shape)}; "
            "add a channel axis with x.unsqueeze(1) for [B, L] input"
        )
    check_float_tensor("x", x, ndim=3)
    assert isinstance(x, torch.Tensor)
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{model_name} was built for {in_channels} input channels, got {x.shape[1]} "
            f"(shape {tuple(x.shape)})"
        )
    if x.shape[2] < min_length:
        raise ValueError(
            f"{model_name} needs at least {min_length} samples per signal, got {x.shape[2]}"
        )


class BasicBlock1d(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))`` with kernel ``kernel_size``; the
    shortcut is a strided 1x1 convolution + BN when the width or length changes."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride, padding=padding, bias=False
        )
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet1d(nn.Module):
    """1-D ResNet encoder ``[B, in_channels, L] -> [B, feature_dim]`` (see module docstring).

    Args:
        in_channels: signal channels ``C``.
        widths: channels of each stage; ``feature_dim = widths[-1]``.
        blocks_per_stage: blocks in each stage (same length as ``widths``).
        stem_kernel_size, stem_stride: the first convolution (a wide kernel suits vibration data).
        stem_pool: max-pool (kernel 3, stride 2) after the stem.
        kernel_size: kernel of the blocks' convolutions (odd).
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512),
        blocks_per_stage: Sequence[int] = (2, 2, 2, 2),
        stem_kernel_size: int = 7,
        stem_stride: int = 2,
        stem_pool: bool = True,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("stem_kernel_size", stem_kernel_size)
        check_int("stem_stride", stem_stride)
        widths = tuple(check_int("each of widths", width) for width in widths)
        blocks_per_stage = tuple(check_int("each of blocks_per_stage", n) for n in blocks_per_stage)
        if not widths:
            raise ValueError("widths must name at least one stage, got ()")
        if len(widths) != len(blocks_per_stage):
            raise ValueError(
                f"widths ({len(widths)} stages) and blocks_per_stage ({len(blocks_per_stage)}) "
                "must have the same length"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.in_channels = in_channels
        self.stem_kernel_size, self.stem_stride, self.stem_pool = (
            stem_kernel_size,
            stem_stride,
            stem_pool,
        )
        self.n_stages = len(widths)
        stem: list[nn.Module] = [
            nn.Conv1d(
                in_channels,
                widths[0],
                stem_kernel_size,
                stem_stride,
                padding=stem_kernel_size // 2,
                bias=False,
            ),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        if stem_pool:
            stem.append(nn.MaxPool1d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages, previous = [], widths[0]
        for index, (width, n_blocks) in enumerate(zip(widths, blocks_per_stage, strict=True)):
            blocks = [BasicBlock1d(previous, width, 1 if index == 0 else 2, kernel_size)]
            blocks += [BasicBlock1d(width, width, 1, kernel_size) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            previous = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.feature_dim: int = widths[-1]
        self.min_input_length: int = minimum_length(self.output_length)
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def output_length(self, length: int) -> int:
        """Time steps left before global pooling for an input of ``length`` samples."""
        k = self.stem_kernel_size
        length = conv_output_length(length, k, self.stem_stride, k // 2)
        if self.stem_pool:
            length = conv_output_length(length, 3, 2, 1)
        for _ in range(self.n_stages - 1):
            length = conv_output_length(length, 3, 2, 1) if length >= 1 else length
        return length

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, C, L] -> [B, feature_dim, L']`` before pooling."""
        check_signal_batch(type(self).__name__, x, self.in_channels, self.min_input_length)
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, in_channels, L] -> [B, feature_dim]``."""
        return torch.flatten(self.pool(self.forward_features(x)), 1)


def resnet1d18(in_channels: int = 1, **options: object) -> ResNet1d:
    """ResNet-18 layout (2, 2, 2, 2 blocks; widths 64-512) in 1-D."""
    return ResNet1d(in_channels, blocks_per_stage=(2, 2, 2, 2), **options)  # type: ignore[arg-type]
