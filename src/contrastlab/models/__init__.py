"""Encoders (images and 1-D signals), projection heads, SupContrast's networks, CPC and
TS2Vec."""

from contrastlab.models.cpc import CPC
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
from contrastlab.models.resnet1d import BasicBlock1d, ResNet1d, resnet1d18
from contrastlab.models.small_cnn import SmallConvNet
from contrastlab.models.supcon_resnet import LinearClassifier, SupCEResNet, SupConResNet
from contrastlab.models.ts2vec import DilatedConvBlock, TS2VecEncoder
from contrastlab.models.wdcnn import WDCNN

__all__ = [
    "CPC",
    "ENCODER_NAMES",
    "WDCNN",
    "BasicBlock",
    "BasicBlock1d",
    "Bottleneck",
    "DilatedConvBlock",
    "LinearClassifier",
    "ProjectionHead",
    "ResNet",
    "ResNet1d",
    "SmallConvNet",
    "SupCEResNet",
    "SupConResNet",
    "TS2VecEncoder",
    "build_encoder",
    "encoder_feature_dim",
    "linear_head",
    "mlp_head",
    "resnet1d18",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
]
