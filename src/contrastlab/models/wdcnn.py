"""WDCNN: Deep Convolutional Neural Networks with Wide First-layer Kernels (Zhang, Peng, Li,
Chen & Zhang, Sensors 17(2):425, 2017), the classic raw-vibration encoder for CWRU bearing data.

Layout (paper, for a 2048-sample input): a wide first convolution (16 kernels of 64 samples,
stride 16, padding 24 -> 128 steps) that acts as a learned band-pass filter bank and suppresses
high-frequency noise, then four small (3-sample) convolutions of 32, 64, 64, 64 kernels, each
convolution followed by BN, ReLU and max-pool 2/2 (the last convolution is unpadded:
2048 -> 128 -> 64 -> 32 -> 16 -> 8 -> 6 -> 3 steps). Here the paper's flatten + FC(100) is
replaced by global average pooling over time, so any long-enough input length and any number of
channels work; ``feature_dim = widths[-1]`` (64), or ``fc_dim`` with an extra FC + BN + ReLU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from contrastlab._checks import check_int
from contrastlab.models.resnet1d import check_signal_batch, conv_output_length, minimum_length


class WDCNN(nn.Module):
    """WDCNN encoder ``[B, in_channels, L] -> [B, feature_dim]`` (see the module docstring).

    Args:
        in_channels: signal channels ``C`` (1 for drive-end only; 2-3 for DE/FE/BA).
        widths: channels of the five convolutions.
        first_kernel_size, first_stride: the wide first layer (64 / 16 in the paper).
        fc_dim: if given, a final ``Linear(widths[-1], fc_dim)`` + BN + ReLU (the paper's FC layer
            has 100 units) and ``feature_dim = fc_dim``.

    ``min_input_length`` (1024 with the defaults) is the shortest input that survives the pooling.
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: Sequence[int] = (16, 32, 64, 64, 64),
        first_kernel_size: int = 64,
        first_stride: int = 16,
        fc_dim: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("first_kernel_size", first_kernel_size),
            ("first_stride", first_stride),
        ):
            check_int(name, value)
        if fc_dim is not None:
            check_int("fc_dim (or None)", fc_dim)
        widths = tuple(check_int("each of widths", width) for width in widths)
        if len(widths) < 2:
            raise ValueError(f"widths must name at least 2 convolutions, got {widths}")
        self.in_channels = in_channels
        self.first_kernel_size, self.first_stride = first_kernel_size, first_stride
        self.n_layers = len(widths)
        self.first_padding = max((first_kernel_size - first_stride) // 2, 0)
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(widths):
            if index == 0:
                conv = nn.Conv1d(
                    previous, width, first_kernel_size, first_stride, padding=self.first_padding
                )
            else:
                padding = 0 if index == len(widths) - 1 else 1
                conv = nn.Conv1d(previous, width, 3, 1, padding=padding)
            layers += [conv, nn.BatchNorm1d(width), nn.ReLU(inplace=True), nn.MaxPool1d(2, 2)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc: nn.Module = nn.Identity()
        if fc_dim is not None:
            self.fc = nn.Sequential(
                nn.Linear(previous, fc_dim), nn.BatchNorm1d(fc_dim), nn.ReLU(inplace=True)
            )
        self.feature_dim: int = previous if fc_dim is None else fc_dim
        self.min_input_length: int = minimum_length(self.output_length)

    def output_length(self, length: int) -> int:
        """Time steps left before global pooling for an input of ``length`` samples."""
        length = conv_output_length(
            length, self.first_kernel_size, self.first_stride, self.first_padding
        )
        length //= 2
        for index in range(1, self.n_layers):
            padding = 0 if index == self.n_layers - 1 else 1
            length = conv_output_length(length, 3, 1, padding) // 2 if length >= 1 else length
        return length

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, C, L] -> [B, widths[-1], L']`` before pooling."""
        check_signal_batch(type(self).__name__, x, self.in_channels, self.min_input_length)
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, in_channels, L] -> [B, feature_dim]``."""
        return self.fc(torch.flatten(self.pool(self.forward_features(x)), 1))
