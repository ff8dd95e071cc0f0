"""TS2Vec's encoder (Yue et al., "TS2Vec: Towards Universal Representation of Time Series",
AAAI 2022, Sec. 3.1): one representation per timestamp.

``x [B, C, L]`` is read as ``L`` timestamps of ``C`` values and mapped to ``r [B, L, repr_dim]``:

1. **input projection**: a linear layer ``C -> hidden_dim`` applied to every timestamp;
2. **timestamp masking** (training only): every timestamp of the latent ``[B, L, hidden_dim]`` is
   set to 0 with probability ``mask_probability`` (a binomial mask, drawn per series and
   timestamp), so the two views of a series never see the same latent input;
3. **dilated convolutions**: ``depth`` residual blocks of width ``hidden_dim`` and one final block
   to ``repr_dim``; block ``i`` (``i = 0..depth``) has dilation ``2^i``. A block is::

       y = conv2(GELU(conv1(GELU(x)))) + (x  or  conv1x1(x) when the width changes / last block)

   with kernel ``kernel_size`` and "same" zero padding ``(kernel_size - 1) 2^i / 2``, so the length
   is kept and timestamp ``t`` of the output is aligned with timestamp ``t`` of the input;
4. dropout (``dropout``, 0.1 in the paper) on the representations.

**Missing and padded timestamps.** A timestamp with a NaN in any channel (the padding of a series
shorter than the batch's, :mod:`contrastlab.data.nan_padding`, or a missing value) is *absent*:
its input is zeroed before the projection, and its activations are set to 0 after the projection
and after every convolution that feeds another one (and in the output), so every convolution reads
absent timestamps as zeros, exactly as its own zero padding past the end of a series. Hence the
representations of a series padded at its end equal, on its own timestamps, those of the series
alone (to the last bit but for PyTorch's CPU GELU, whose rounding of the last bit can depend on
an element's position in memory), and absent timestamps give zero representations, which
:meth:`TS2VecEncoder.encode`'s pooling leaves out. (TS2Vec's code zeroes absent timestamps only
after the projection, so its later layers read the padding's biases.)

:meth:`TS2VecEncoder.encode` is the instance representation: the timestamp representations
(no mask) max-pooled over the series' own timestamps. With ``pyramid = (1,)`` (default) that is
the paper's full-series encoding, the maximum over all ``L`` timestamps, ``[B, repr_dim]``;
``pyramid = (1, 2, 4, 8)`` also max-pools each half, quarter and eighth of the series
(:func:`contrastlab.models.pyramid_pooling.temporal_pyramid_max`), ``[B, 15 repr_dim]``. The
paper's defaults are ``hidden_dim = 64``, ``repr_dim = 320``, ``depth = 10``,
``kernel_size = 3``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_int
from contrastlab.data.nan_padding import observed_timestamps
from contrastlab.models.pyramid_pooling import check_pyramid, temporal_pyramid_max
from contrastlab.models.resnet1d import check_signal_batch


class DilatedConvBlock(nn.Module):
    """``x [B, in_channels, L] -> [B, out_channels, L]``:
    ``conv2(GELU(conv1(GELU(x)))) + residual(x)``, both convolutions dilated by ``dilation`` with
    "same" padding; ``residual`` is a 1x1 convolution when ``project`` or the width changes.
    With ``present [B, 1, L]`` (1: a timestamp of the series, 0: absent) the output of ``conv1``
    and the block's output are multiplied by it (absent timestamps read as zeros)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        project: bool = False,
    ) -> None:
        super().__init__()
        padding = (kernel_size - 1) * dilation // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, padding=padding,
                               dilation=dilation)  # fmt: skip
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding,
                               dilation=dilation)  # fmt: skip
        needs_projection = project or in_channels != out_channels
        self.residual = nn.Conv1d(in_channels, out_channels, 1) if needs_projection else None

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        residual = x if self.residual is None else self.residual(x)
        hidden = F.gelu(self.conv1(F.gelu(x)))
        if present is None:
            return self.conv2(hidden) + residual
        return (self.conv2(hidden * present) + residual) * present


def _check_options(**options: int) -> None:
    for name, value in options.items():
        check_int(name, value)
    if options["kernel_size"] % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd (same-length output), got {options['kernel_size']}"
        )


class TS2VecEncoder(nn.Module):
    """TS2Vec's timestamp encoder (see the module docstring).

    Args:
        in_channels: ``C``, values per timestamp.
        hidden_dim: width of the input projection and of the ``depth`` hidden blocks.
        repr_dim: channels of every timestamp representation.
        depth: hidden residual blocks (dilations ``1, 2, ..., 2^(depth - 1)``, then ``2^depth``
            for the output block).
        kernel_size: odd kernel of every dilated convolution.
        mask_probability: probability that a latent timestamp is zeroed during training.
        dropout: dropout probability on the output representations.
        pyramid: segment counts of :meth:`encode`'s max pooling over time;
            ``feature_dim = repr_dim * sum(pyramid)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden_dim: int = 64,
        repr_dim: int = 320,
        depth: int = 10,
        kernel_size: int = 3,
        mask_probability: float = 0.5,
        dropout: float = 0.1,
        pyramid: tuple[int, ...] | list[int] = (1,),
    ) -> None:
        super().__init__()
        _check_options(
            in_channels=in_channels, hidden_dim=hidden_dim, repr_dim=repr_dim, depth=depth,
            kernel_size=kernel_size,
        )  # fmt: skip
        for name, value in (("mask_probability", mask_probability), ("dropout", dropout)):
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        self.in_channels = in_channels
        self.pyramid = check_pyramid(pyramid)
        self.mask_probability = mask_probability
        self.input_projection = nn.Linear(in_channels, hidden_dim)
        widths = [hidden_dim] * depth + [repr_dim]
        blocks, previous = [], hidden_dim
        for index, width in enumerate(widths):
            last = index == len(widths) - 1
            blocks.append(DilatedConvBlock(previous, width, kernel_size, 2**index, project=last))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        self.feature_dim: int = repr_dim * sum(self.pyramid)
        self.min_input_length: int = 1

    def timestamp_mask(self, batch_size: int, length: int, device: torch.device) -> torch.Tensor:
        """Binomial keep-mask ``[B, L]`` (True: kept), each entry kept with ``1 - p``."""
        keep = torch.full((batch_size, length), 1.0 - self.mask_probability, device=device)
        return torch.bernoulli(keep).bool()

    def forward(self, x: torch.Tensor, mask: bool | None = None) -> torch.Tensor:
        """``x [B, C, L] -> r [B, L, repr_dim]``; ``mask`` (default: ``self.training``) applies
        the timestamp mask. Absent (NaN) timestamps give zero rows of ``r`` (module docstring)."""
        present = observed_timestamps(x)  # [B, L]
        x = x.masked_fill(~present.unsqueeze(1), 0.0)
        check_signal_batch(type(self).__name__, x, self.in_channels, self.min_input_length)
        keep = present
        if (self.training if mask is None else mask) and self.mask_probability > 0:
            keep = keep & self.timestamp_mask(x.shape[0], x.shape[2], x.device)
        latent = self.input_projection(x.transpose(1, 2))  # [B, L, hidden]
        hidden = (latent * keep.unsqueeze(-1).to(latent.dtype)).transpose(1, 2)  # [B, hidden, L]
        present_weights = present.unsqueeze(1).to(hidden.dtype)  # [B, 1, L]
        for block in self.blocks:
            hidden = block(hidden, present_weights)
        return self.dropout(hidden.transpose(1, 2))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Instance representation ``[B, feature_dim]``: the unmasked ``[B, L, repr_dim]``
        max-pooled over the time segments of ``pyramid``, each series over its own (present)
        timestamps, of which it needs at least ``max(pyramid)``."""
        return temporal_pyramid_max(
            self.forward(x, mask=False), self.pyramid, valid=observed_timestamps(x)
        )
