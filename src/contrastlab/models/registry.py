"""Image encoders by name: ``build_encoder('resnet50', in_channels=3, stem='cifar')``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from contrastlab._checks import check_choice
from contrastlab.models.resnet import STEMS, resnet18, resnet34, resnet50, resnet101
from contrastlab.models.small_cnn import SmallConvNet

_RESNETS: dict[str, tuple[Callable[..., nn.Module], int]] = {
    "resnet18": (resnet18, 512),
    "resnet34": (resnet34, 512),
    "resnet50": (resnet50, 2048),
    "resnet101": (resnet101, 2048),
}
_SMALL_CNN_WIDTH = 32

ENCODER_NAMES: tuple[str, ...] = (*_RESNETS, "smallcnn")


def _check_name(name: str) -> None:
    if name not in ENCODER_NAMES:
        raise ValueError(f"unknown encoder {name!r}; valid names: {', '.join(ENCODER_NAMES)}")


def encoder_feature_dim(name: str) -> int:
    """The ``feature_dim`` of ``build_encoder(name)``, without building it."""
    _check_name(name)
    if name == "smallcnn":
        return 4 * _SMALL_CNN_WIDTH
    return _RESNETS[name][1]


def build_encoder(name: str, in_channels: int = 3, stem: str = "cifar") -> nn.Module:
    """Build an image encoder ``[B, in_channels, H, W] -> [B, feature_dim]``.

    Args:
        name: one of ``ENCODER_NAMES`` (``resnet18/34/50/101``, ``smallcnn``).
        in_channels: channels of the input images.
        stem: for ResNets, ``'cifar'`` (3x3 stride 1, no max-pool) or ``'imagenet'`` (7x7 stride 2
            + max-pool). ``smallcnn`` has a single stem and accepts only ``'cifar'``.

    The returned module has an integer ``feature_dim`` attribute.
    """
    _check_name(name)
    check_choice("stem", stem, STEMS)
    if name == "smallcnn":
        if stem != "cifar":
            raise ValueError(f"smallcnn has no {stem!r} stem; use stem='cifar' or a ResNet")
        return SmallConvNet(in_channels, width=_SMALL_CNN_WIDTH)
    factory, _ = _RESNETS[name]
    return factory(in_channels=in_channels, stem=stem)
