"""Band energies + MLP: a 1-D backbone whose features know *where* in a spectrum energy sits.

The convolutional encoders end in global average pooling, which is invariant to where a pattern
sits; on a spectrum "where" is the frequency, the very thing that tells an inner-race line from an
outer-race one. Measured on CWRU (``docs/bearing.md``), the band MLP's SimCLR features classify
another load's recordings better than WDCNN's on the same FFT input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_float_tensor


class BandMLP(nn.Module):
    """Band energies + MLP: ``x [B, C, L] -> features [B, widths[-1]]``.

    ``x`` is averaged over bands of ``band_width`` consecutive steps (``[B, C, L // band_width]``,
    a trailing partial band dropped), flattened to ``[B, C * (L // band_width)]`` and passed
    through ``Linear -> BatchNorm -> ReLU`` blocks of ``widths``. Every band has its own weights,
    so the features know where in the spectrum energy sits. Built for inputs of exactly
    ``input_length`` steps.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        band_width: int = 8,
        widths: Sequence[int] = (256, 128),
    ) -> None:
        super().__init__()
        numbers = (in_channels, input_length, band_width, *widths)
        if not widths or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in numbers
        ):
            raise ValueError(
                "in_channels, input_length, band_width and widths (at least one) must be positive "
                f"integers, got {in_channels}, {input_length}, {band_width}, {tuple(widths)}"
            )
        if input_length < band_width:
            raise ValueError(f"input_length {input_length} is shorter than one band ({band_width})")
        self.in_channels, self.input_length, self.band_width = in_channels, input_length, band_width
        layers: list[nn.Module] = []
        previous = in_channels * (input_length // band_width)
        for width in widths:
            layers += [nn.Linear(previous, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            previous = width
        self.mlp = nn.Sequential(*layers)
        self.feature_dim: int = previous
        self.min_input_length: int = input_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, in_channels, input_length] -> [B, feature_dim]``."""
        check_float_tensor("x", x, ndim=3)
        if x.shape[1:] != (self.in_channels, self.input_length):
            raise ValueError(
                f"BandMLP was built for inputs [B, {self.in_channels}, {self.input_length}], "
                f"got {tuple(x.shape)}"
            )
        bands = F.avg_pool1d(x, self.band_width)
        return self.mlp(bands.flatten(1))
