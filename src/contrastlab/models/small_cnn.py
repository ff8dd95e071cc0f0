"""A small convolutional encoder for tiny images (8x8 to 32x32 digits), fast enough for CPU runs."""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import check_int
from contrastlab.models.resnet import check_image_batch


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallConvNet(nn.Module):
    """Four conv-BN-ReLU blocks (widths w, 2w, 4w, 4w; the 2nd and 3rd with stride 2) + global pool.

    Args:
        in_channels: channels of the input images.
        width: channels of the first block ``w``; ``feature_dim = 4 * width``.

    Shapes: ``forward(x [B, in_channels, H, W]) -> [B, feature_dim]``, ``H, W >= 4``
    (``min_input_size``, the total stride).
    """

    def __init__(self, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        check_int("in_channels", in_channels)
        check_int("width", width)
        self.in_channels = in_channels
        self.width = width
        self.min_input_size = 4
        self.features = nn.Sequential(
            _conv_bn_relu(in_channels, width, stride=1),
            _conv_bn_relu(width, 2 * width, stride=2),
            _conv_bn_relu(2 * width, 4 * width, stride=2),
            _conv_bn_relu(4 * width, 4 * width, stride=1),
        )
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.feature_dim: int = 4 * width
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, in_channels, H, W] float -> features [B, 4 * width]."""
        check_image_batch(type(self).__name__, x, self.in_channels, self.min_input_size)
        return torch.flatten(self.pool(self.features(x)), 1)
