"""A 1-D signal encoder: an input representation (front-end) followed by a backbone::

    x [B, C, L] --front-end--> [B, C, L'] --backbone--> features [B, D]

Front-ends (``input``), all from :mod:`contrastlab.data.spectra`:

- ``raw``: the windows as given (standardised per channel with training statistics by the loader);
- ``standardize``: each window and channel standardised on its own (removes gain changes);
- ``fft``: ``log1p(|rfft(x)| / L)`` without DC, standardised per window (``L' = L // 2``):
  time-shift invariant, and fault resonances and bearing-defect lines become fixed features;
- ``envelope``: the FFT magnitude of the Hilbert envelope (``L' = L // 2``), where bearing defects
  show lines at their defect frequencies.

Models fed raw windows tend to break when the shaft speed (motor load) changes; spectral inputs
make the fault signature explicit, which is why the front-end is part of the design and stored
with the model (:mod:`contrastlab.models.signal_spec`).
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import check_choice
from contrastlab.config.choices import INPUT_REPRESENTATIONS, SPECTRAL_INPUTS
from contrastlab.data.spectra import EnvelopeSpectrum, FFTMagnitude, PerWindowStandardize
from contrastlab.models.cpc import CPC
from contrastlab.models.ts2vec import TS2VecEncoder


def build_frontend(name: str) -> nn.Module:
    """The input transform ``[B, C, L] -> [B, C, L']`` named ``name`` (see the module docstring)."""
    check_choice("input", name, INPUT_REPRESENTATIONS)
    if name == "standardize":
        return PerWindowStandardize()
    if name == "fft":
        return FFTMagnitude(log=True, standardize=True)
    if name == "envelope":
        return EnvelopeSpectrum(standardize=True)
    return nn.Identity()


def frontend_length(name: str, length: int) -> int:
    """Length ``L'`` the front-end ``name`` gives for windows of ``length`` samples."""
    check_choice("input", name, INPUT_REPRESENTATIONS)
    return length // 2 if name in SPECTRAL_INPUTS else length


class SignalEncoder(nn.Module):
    """Front-end + backbone: ``x [B, C, L] -> features [B, feature_dim]``.

    For a CPC backbone the features are its pooled context (:meth:`CPC.encode`), and
    :meth:`latents_and_context` gives ``(z [B, T, D], c [B, T, H])`` for the CPC loss. For a
    TS2Vec backbone the features are its representations max-pooled over time
    (:meth:`TS2VecEncoder.encode`: over its pyramid, by default the full-series maximum), and
    :meth:`timestamps` gives the per-timestamp representations ``[B, L', D]``.
    """

    def __init__(self, frontend: nn.Module, backbone: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.feature_dim: int = int(backbone.feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = self.frontend(x)
        if isinstance(self.backbone, (CPC, TS2VecEncoder)):
            return self.backbone.encode(inputs)
        return self.backbone(inputs)

    def timestamps(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.backbone, TS2VecEncoder):
            raise ValueError(
                f"per-timestamp representations need a TS2Vec backbone, not {type(self.backbone)}"
            )
        return self.backbone(self.frontend(x))

    def latents_and_context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(self.backbone, CPC):
            raise ValueError(f"latents and contexts need a CPC backbone, not {type(self.backbone)}")
        return self.backbone(self.frontend(x))
