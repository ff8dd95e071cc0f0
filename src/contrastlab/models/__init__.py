"""Networks: every encoder by name (images and 1-D signals, :mod:`contrastlab.models.registry`),
projection heads, SupContrast's networks, the signal encoders built from a spec, CPC and TS2Vec."""

from contrastlab.models.band_mlp import BandMLP
from contrastlab.models.cpc import CPC
from contrastlab.models.heads import ProjectionHead, linear_head, mlp_head
from contrastlab.models.registry import (
    ENCODER_NAMES,
    ENCODERS,
    IMAGE_ENCODERS,
    SIGNAL_BACKBONES,
    build_encoder,
    encoder_feature_dim,
)
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
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.models.signal_networks import (
    CPCNetwork,
    ProjectionNetwork,
    SignalClassifier,
    TimestampNetwork,
)
from contrastlab.models.signal_spec import build_classifier, build_signal_encoder, make_spec
from contrastlab.models.small_cnn import SmallConvNet
from contrastlab.models.supcon_resnet import LinearClassifier, SupCEResNet, SupConResNet
from contrastlab.models.ts2vec import DilatedConvBlock, TS2VecEncoder
from contrastlab.models.wdcnn import WDCNN

__all__ = [
    "CPC",
    "ENCODERS",
    "ENCODER_NAMES",
    "IMAGE_ENCODERS",
    "SIGNAL_BACKBONES",
    "WDCNN",
    "BandMLP",
    "BasicBlock",
    "BasicBlock1d",
    "Bottleneck",
    "CPCNetwork",
    "DilatedConvBlock",
    "LinearClassifier",
    "ProjectionHead",
    "ProjectionNetwork",
    "ResNet",
    "ResNet1d",
    "SignalClassifier",
    "SignalEncoder",
    "SmallConvNet",
    "SupCEResNet",
    "SupConResNet",
    "TS2VecEncoder",
    "TimestampNetwork",
    "build_classifier",
    "build_encoder",
    "build_signal_encoder",
    "encoder_feature_dim",
    "linear_head",
    "make_spec",
    "mlp_head",
    "resnet1d18",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
]
