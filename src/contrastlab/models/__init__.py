"""Encoders, projection heads and SupContrast's networks."""

from contrastlab.models.heads import ProjectionHead, linear_head, mlp_head
from contrastlab.models.registry import ENCODER_NAMES, build_encoder, encoder_feature_dim
from contrastlab.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
)
from contrastlab.models.small_cnn import SmallConvNet
from contrastlab.models.supcon_resnet import LinearClassifier, SupCEResNet, SupConResNet

__all__ = [
    "ENCODER_NAMES",
    "BasicBlock",
    "Bottleneck",
    "LinearClassifier",
    "ProjectionHead",
    "ResNet",
    "SmallConvNet",
    "SupCEResNet",
    "SupConResNet",
    "build_encoder",
    "encoder_feature_dim",
    "linear_head",
    "mlp_head",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
]
