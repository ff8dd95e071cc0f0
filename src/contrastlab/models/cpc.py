"""Contrastive Predictive Coding model (van den Oord, Li & Vinyals 2018, arXiv:1807.03748).

- ``g_enc``: strided 1-D convolutions mapping ``x [B, C, L]`` to latents ``z [B, T, D]`` with
  ``T = L // prod(strides)`` (kernel ``k``, stride ``s``, padding ``(k - s) // 2``; the paper's
  audio encoder uses strides 5, 4, 2, 2, 2 = 160). Each layer: convolution, LayerNorm over the
  channels of each time step, ReLU. BatchNorm is avoided on purpose: it mixes statistics across
  the batch, which lets the model tell sequences apart through the normalisation and so solve the
  contrastive task without learning (Hénaff et al. 2020, "Data-efficient image recognition with
  CPC", drop it for this reason).
- ``g_ar``: a GRU summarising ``z_<=t`` into the context ``c_t``: ``c [B, T, H]``.
- ``W_k``, ``k = 1..K``: one linear predictor per step, held by the model's
  :class:`~contrastlab.losses.cpc.CPCLoss` (``model.criterion``), so they are part of the model's
  parameters and ``state_dict``.

``forward(x)`` returns ``(z, c)``; ``loss(x)`` the CPC loss and per-step accuracy; ``encode(x)``
the pooled representation ``[B, feature_dim]`` (mean of ``c`` over time, or the last ``c``) for
downstream probes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from contrastlab._checks import check_choice, check_int
from contrastlab.losses.cpc import CPCLoss
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
    """CPC encoder + autoregressive context network + per-step predictors.

    Args:
        in_channels: signal channels ``C``.
        latent_dim: ``D``, channels of every encoder layer and of ``z``.
        context_dim: ``H``, GRU hidden size; ``feature_dim = H``.
        prediction_steps: ``K``; inputs need ``T = L // prod(strides) > K`` time steps for the loss.
        kernel_sizes, strides: the encoder's convolutions (``kernel >= stride``).
        n_negatives, max_anchors: passed to :class:`~contrastlab.losses.cpc.CPCLoss`.
        pooling: ``'mean'`` or ``'last'`` context for :meth:`encode`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        latent_dim: int = 128,
        context_dim: int = 128,
        prediction_steps: int = 8,
        kernel_sizes: Sequence[int] = (8, 4, 4, 4),
        strides: Sequence[int] = (4, 2, 2, 2),
        n_negatives: int = 16,
        max_anchors: int | None = 4096,
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
        self.criterion = CPCLoss(
            context_dim, latent_dim, prediction_steps, n_negatives, max_anchors
        )
        self.prediction_steps = prediction_steps
        self.feature_dim: int = context_dim
        self.min_input_length: int = self._min_length()

    @property
    def predictors(self) -> nn.ModuleList:
        """The ``K`` linear predictors ``W_k: H -> D``."""
        return self.criterion.predictors

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

    def loss(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CPC loss of a batch ``x [B, C, L]``: ``(loss, per-step accuracy [K])``."""
        z, context = self(x)
        return self.criterion(z, context, generator=generator)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Representation for probes: mean (or last) context ``[B, feature_dim]``."""
        _, context = self(x)
        return context.mean(dim=1) if self.pooling == "mean" else context[:, -1]
