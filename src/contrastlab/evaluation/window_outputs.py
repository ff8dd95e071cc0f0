"""What a signal classifier says about each window: its embedding and its class probabilities.

For a :class:`~contrastlab.models.signal_networks.SignalClassifier` ``x -> W f(x) + b``, window
``i`` gets the encoder's embedding ``z_i = f(x_i)`` ``[D]`` (what the out-of-distribution detector
of :mod:`contrastlab.evaluation.ood` compares with the training windows) and
``p_i = softmax(W z_i + b)`` ``[K]``, whose maximum is the window's confidence and whose argmax its
class. Both come from one pass of the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastlab.evaluation.features import extract_features
from contrastlab.models.signal_networks import SignalClassifier


@dataclass(frozen=True)
class WindowOutputs:
    """``embeddings [N, D]`` and ``probabilities [N, K]`` (float32, CPU) of N windows."""

    embeddings: torch.Tensor
    probabilities: torch.Tensor

    @property
    def confidences(self) -> torch.Tensor:
        """``max_k p_ik`` ``[N]``."""
        return self.probabilities.max(dim=1).values

    @property
    def predictions(self) -> torch.Tensor:
        """``argmax_k p_ik`` ``[N]`` (int64)."""
        return self.probabilities.argmax(dim=1)


@torch.no_grad()
def classify_windows(
    classifier: SignalClassifier, inputs: torch.Tensor, batch_size: int = 256
) -> WindowOutputs:
    """Embeddings and class probabilities of ``inputs [N, C, L]`` (module docstring), computed in
    eval mode, ``batch_size`` windows at a time on the classifier's device."""
    embeddings = extract_features(classifier.encoder, inputs, batch_size=batch_size).cpu()
    layer = classifier.classifier
    logits = layer(embeddings.to(device=layer.weight.device, dtype=layer.weight.dtype))
    return WindowOutputs(embeddings, torch.softmax(logits.float(), dim=1).cpu())
