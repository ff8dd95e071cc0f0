"""The networks the signal pipelines train, each around a :class:`SignalEncoder`.

:class:`ProjectionNetwork` (encoder + projection head, for SimCLR / SupCon / Siamese),
:class:`CPCNetwork` (``x -> (z, c)``, for CPC), :class:`TimestampNetwork` (``x -> [B, L, D]``, for
TS2Vec) and :class:`SignalClassifier` (encoder + linear layer, for fine-tuning, baselines and
diagnosis). Build them from a spec with :mod:`contrastlab.models.signal_spec`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab.data.spectra import EnvelopeSpectrum, FFTMagnitude
from contrastlab.models.cpc import CPC
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.models.ts2vec import TS2VecEncoder


class ProjectionNetwork(nn.Module):
    """Encoder + projection head: ``x -> head(encoder(x))`` ``[B, feat_dim]``, L2-normalised when
    ``normalize`` (SimCLR / SupCon compare directions; the Siamese margin loss needs a scale)."""

    def __init__(self, encoder: SignalEncoder, head: nn.Module, normalize: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projection = self.head(self.encoder(x))
        return F.normalize(projection, dim=1) if self.normalize else projection


class CPCNetwork(nn.Module):
    """``x [B, C, L] -> (z [B, T, D], c [B, T, H])`` of a CPC encoder (what
    :class:`contrastlab.methods.CPCMethod` contrasts)."""

    def __init__(self, encoder: SignalEncoder) -> None:
        super().__init__()
        if not isinstance(encoder.backbone, CPC):
            raise ValueError("method 'cpc' needs the 'cpc' backbone (--model cpc)")
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.latents_and_context(x)


class TimestampNetwork(nn.Module):
    """``x [B, C, L] -> [B, L, D]``: the per-timestamp representations of a TS2Vec encoder (what
    :class:`contrastlab.methods.TS2VecMethod` contrasts). Its front-end must keep the timestamps
    (``raw`` or ``standardize``)."""

    def __init__(self, encoder: SignalEncoder) -> None:
        super().__init__()
        if not isinstance(encoder.backbone, TS2VecEncoder):
            raise ValueError("method 'ts2vec' needs the 'ts2vec' backbone (--model ts2vec)")
        if isinstance(encoder.frontend, (FFTMagnitude, EnvelopeSpectrum)):
            raise ValueError("method 'ts2vec' needs a time-domain input (--input raw|standardize)")
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.timestamps(x)


class SignalClassifier(nn.Module):
    """Encoder + linear layer: ``x [B, C, L] -> logits [B, num_classes]``."""

    def __init__(self, encoder: SignalEncoder, num_classes: int) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.encoder = encoder
        self.classifier = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))
