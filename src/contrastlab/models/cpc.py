"""Contrastive Predictive Coding model (van den Oord, Li & Vinyals 2018, arXiv:1807.03748).

- ``g_enc``: strided 1-D convolutions mapping ``x [B, C, L]`` to latents ``z [B, T, D]`` with
  ``T = L // prod(strides)`` (kernel ``k``, stride ``s``, padding ``(k - s) // 2``; the paper's
  audio encoder uses strides 5, 4, 2, 2, 2 = 160). Each layer: convolution, LayerNorm over the
  channels of each time step, ReLU. BatchNorm is avoided on purpose: it mixes statistics across
  the batch, which lets the model tell sequences apart through the normalisation and so solve the
  contrastive task without learning (Hénaff et al. 2020, "Data-efficient image recognition with
  CPC", drop it for this reason).
- ``g_ar``: a GRU summarising ``z_<=t`` into the context ``c_t``: ``c [B, T, H]``.

``forward(x)`` returns ``(z, c)``; ``encode(x)`` the pooled representation ``[B, feature_dim]``
(mean of ``c`` over time, or the last ``c``) for downstream probes. The CPC loss and its
per-step predictors ``W_k`` belong to the training method
(:class:`contrastlab.methods.CPCMethod`, :class:`contrastlab.losses.CPCLoss`), not to the model:
a trained encoder carries no training-only weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from contrastlab._checks import check_choice, check_int
from contrastlab.models.resnet1d import check_signal_batch, conv_output_length

POOLINGS = ("mean", "last")


class _ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of every time step of ``[B, D, T]`` (no batch statistics)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class CPC(nn.Module):
    """CPC encoder + autoregressive context network.

    Args:
        in_channels: signal channels ``C``.
        latent_dim: ``D``, channels of every encoder layer and of ``z``.
        context_dim: ``H``, GRU hidden size; ``feature_dim = H``.
        kernel_sizes, strides: the encoder's convolutions (``kernel >= stride``).
        pooling: ``'mean'`` or ``'last'`` context for :meth:`encode`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        latent_dim: int = 128,
        context_dim: int = 128,
        kernel_sizes: Sequence[int] = (8, 4, 4, 4),
        strides: Sequence[int] = (4, 2, 2, 2),
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        check_choice("pooling", pooling, POOLINGS)
        for name, value in (
            ("in_channels", in_channels),
            ("latent_dim", latent_dim),
            ("context_dim", context_dim),
        ):
            check_int(name, value)
        kernel_sizes = tuple(check_int("each of kernel_sizes", k) for k in kernel_sizes)
        strides = tuple(check_int("each of strides", s) for s in strides)
        if not kernel_sizes or len(kernel_sizes) != len(strides):
            raise ValueError(
                f"kernel_sizes {kernel_sizes} and strides {strides} must be non-empty, equally long"
            )
        if any(k < s for k, s in zip(kernel_sizes, strides, strict=True)):
            raise ValueError(f"every kernel must be >= its stride, got {kernel_sizes} / {strides}")
        self.in_channels = in_channels
        self.latent_dim, self.context_dim = latent_dim, context_dim
        self.kernel_sizes, self.strides = kernel_sizes, strides
        self.pooling = pooling
        self.downsampling = math.prod(strides)
        layers: list[nn.Module] = []
        previous = in_channels
        for kernel, stride in zip(kernel_sizes, strides, strict=True):
            layers += [
                nn.Conv1d(previous, latent_dim, kernel, stride, padding=(kernel - stride) // 2),
                _ChannelLayerNorm(latent_dim),
                nn.ReLU(inplace=True),
            ]
            previous = latent_dim
        self.g_enc = nn.Sequential(*layers)
        self.g_ar = nn.GRU(latent_dim, context_dim, batch_first=True)
        self.feature_dim: int = context_dim
        self.min_input_length: int = self._min_length()

    def output_length(self, length: int) -> int:
        """Number of latent time steps ``T`` for an input of ``length`` samples."""
        for kernel, stride in zip(self.kernel_sizes, self.strides, strict=True):
            length = conv_output_length(length, kernel, stride, (kernel - stride) // 2)
        return length

    def _min_length(self) -> int:
        length = 1
        while self.output_length(length) < 1:
            length += 1
        return length

    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """``g_enc``: ``x [B, C, L] -> z [B, T, D]``."""
        check_signal_batch(type(self).__name__, x, self.in_channels, self.min_input_length)
        return self.g_enc(x).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, C, L] -> (z [B, T, D], c [B, T, H])``."""
        z = self.encode_latents(x)
        context, _ = self.g_ar(z)
        return z, context

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Representation for probes: mean (or last) context ``[B, feature_dim]``."""
        _, context = self(x)
        return context.mean(dim=1) if self.pooling == "mean" else context[:, -1]
