"""SupContrast's networks (Khosla et al. 2020, arXiv:2004.11362): encoder + projection head,
encoder + classifier, and the linear probe.

Attribute names (``encoder``, ``head``, ``fc``) match the reference's ``networks/resnet_big.py``,
so its checkpoints' ``state_dict`` load with ``load_state_dict`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_choice, check_int
from contrastlab.models.heads import linear_head, mlp_head
from contrastlab.models.registry import build_encoder, encoder_feature_dim


class SupConResNet(nn.Module):
    """Encoder + projection head with L2-normalised output: ``z = normalize(head(encoder(x)))``.

    Args:
        name: encoder name (``resnet18/34/50/101`` or ``smallcnn``, see ``build_encoder``).
        head: ``'mlp'`` (``Linear(d, d) -> ReLU -> Linear(d, feat_dim)``) or ``'linear'``.
        feat_dim: dimension of the projection.
        in_channels, stem: passed to ``build_encoder``.

    Shapes: ``forward(x [B, C, H, W]) -> [B, feat_dim]``, each row of unit L2 norm; the
    normalisation runs in at least float32 so it cannot overflow under fp16 autocast.
    ``encoder(x)`` gives the ``[B, d]`` features used for linear evaluation.
    """

    def __init__(
        self,
        name: str = "resnet50",
        head: str = "mlp",
        feat_dim: int = 128,
        in_channels: int = 3,
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        check_choice("head", head, ("mlp", "linear"))
        check_int("feat_dim", feat_dim)
        self.encoder = build_encoder(name, in_channels=in_channels, stem=stem)
        dim_in: int = self.encoder.feature_dim
        self.head = (
            mlp_head(dim_in, dim_in, feat_dim) if head == "mlp" else linear_head(dim_in, feat_dim)
        )
        self.feature_dim = dim_in
        self.feat_dim = feat_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, C, H, W] -> unit-norm projections [B, feat_dim]."""
        projection = self.head(self.encoder(x))
        return F.normalize(
            projection.to(torch.promote_types(projection.dtype, torch.float32)), dim=1
        )


class SupCEResNet(nn.Module):
    """Encoder + linear classifier for the cross-entropy baseline: ``fc(encoder(x))``.

    Shapes: ``forward(x [B, C, H, W]) -> logits [B, num_classes]``.
    """

    def __init__(
        self,
        name: str = "resnet50",
        num_classes: int = 10,
        in_channels: int = 3,
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        check_int("num_classes", num_classes)
        self.encoder = build_encoder(name, in_channels=in_channels, stem=stem)
        self.feature_dim: int = self.encoder.feature_dim
        self.fc = nn.Linear(self.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, C, H, W] -> logits [B, num_classes]."""
        return self.fc(self.encoder(x))


class LinearClassifier(nn.Module):
    """The linear probe on frozen features: ``fc(features)``.

    Give either ``name`` (an encoder name; its ``feature_dim`` is used, as in SupContrast) or
    ``feature_dim`` directly (any encoder, e.g. a signal model).

    Shapes: ``forward(features [B, feature_dim]) -> logits [B, num_classes]``.
    """

    def __init__(
        self, name: str | None = None, num_classes: int = 10, feature_dim: int | None = None
    ) -> None:
        super().__init__()
        if (name is None) == (feature_dim is None):
            raise ValueError(
                "LinearClassifier needs exactly one of name (an encoder name) or feature_dim, "
                f"got name={name!r}, feature_dim={feature_dim!r}"
            )
        if name is not None:
            feature_dim = encoder_feature_dim(name)
        self.feature_dim = check_int("feature_dim", feature_dim)
        check_int("num_classes", num_classes)
        self.fc = nn.Linear(self.feature_dim, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: [B, feature_dim] -> logits [B, num_classes]."""
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"LinearClassifier expects features of shape [B, {self.feature_dim}], "
                f"got {tuple(features.shape)}"
            )
        return self.fc(features)
