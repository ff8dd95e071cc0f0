"""Every encoder by name, images and 1-D signals alike: ``build_encoder(name, in_channels, ...)``.

- image encoders ``[B, C, H, W] -> [B, D]``: ``resnet18/34/50/101`` (option ``stem``: ``'cifar'``
  3x3 stride 1 without max-pool, or ``'imagenet'`` 7x7 stride 2 + max-pool) and ``smallcnn``;
- signal backbones ``[B, C, L] -> [B, D]``: ``mlp`` (band energies + MLP, needs
  ``input_length``), ``wdcnn``, ``resnet1d``, ``cpc`` and ``ts2vec`` (both map to sequences; the
  signal encoder pools them, :class:`contrastlab.models.signal_encoder.SignalEncoder`).

Every built module has an integer ``feature_dim``. Options are the constructor's keyword
arguments; lists (as YAML and JSON give them) are accepted where the model takes a sequence.
A signal network adds its input front-end from a spec (:mod:`contrastlab.models.signal_spec`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from contrastlab.models.band_mlp import BandMLP
from contrastlab.models.cpc import CPC
from contrastlab.models.resnet import STEMS, resnet18, resnet34, resnet50, resnet101
from contrastlab.models.resnet1d import ResNet1d
from contrastlab.models.small_cnn import SmallConvNet
from contrastlab.models.ts2vec import TS2VecEncoder
from contrastlab.models.wdcnn import WDCNN

_SMALL_CNN_WIDTH = 32


def _small_cnn(in_channels: int, stem: str = "cifar") -> nn.Module:
    if stem != "cifar":
        raise ValueError(f"smallcnn has no {stem!r} stem; use stem='cifar' or a ResNet")
    return SmallConvNet(in_channels, width=_SMALL_CNN_WIDTH)


def _resnet(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def build(in_channels: int, stem: str = "cifar") -> nn.Module:
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {list(STEMS)}, got {stem!r}")
        return factory(in_channels=in_channels, stem=stem)

    return build


@dataclass(frozen=True)
class EncoderEntry:
    """One registered encoder: its modality, builder ``build(in_channels, **options)`` and, where
    it does not depend on the options, its feature dimension."""

    modality: str  # "image" | "signal"
    build: Callable[..., nn.Module]
    feature_dim: int | None = None


ENCODERS: dict[str, EncoderEntry] = {
    "resnet18": EncoderEntry("image", _resnet(resnet18), 512),
    "resnet34": EncoderEntry("image", _resnet(resnet34), 512),
    "resnet50": EncoderEntry("image", _resnet(resnet50), 2048),
    "resnet101": EncoderEntry("image", _resnet(resnet101), 2048),
    "smallcnn": EncoderEntry("image", _small_cnn, 4 * _SMALL_CNN_WIDTH),
    "mlp": EncoderEntry("signal", BandMLP),
    "wdcnn": EncoderEntry("signal", WDCNN),
    "resnet1d": EncoderEntry("signal", ResNet1d),
    "cpc": EncoderEntry("signal", CPC),
    "ts2vec": EncoderEntry("signal", TS2VecEncoder),
}

IMAGE_ENCODERS: tuple[str, ...] = tuple(n for n, e in ENCODERS.items() if e.modality == "image")
SIGNAL_BACKBONES: tuple[str, ...] = tuple(n for n, e in ENCODERS.items() if e.modality == "signal")
ENCODER_NAMES = IMAGE_ENCODERS  # the image encoders' names, as the image commands' --model takes


def _entry(name: str) -> EncoderEntry:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid names: {', '.join(ENCODERS)}")
    return ENCODERS[name]


def encoder_feature_dim(name: str) -> int:
    """The ``feature_dim`` of image encoder ``name``, without building it."""
    dim = _entry(name).feature_dim
    if dim is None:
        raise ValueError(f"the feature dimension of {name!r} depends on its options: build it")
    return dim


def build_encoder(name: str, in_channels: int = 3, **options: Any) -> nn.Module:
    """Build encoder ``name`` (see the module docstring) for inputs of ``in_channels`` channels.

    Image encoders take ``stem`` (default ``'cifar'``); signal backbones take their
    constructor's options (``default_backbone_options`` of :mod:`contrastlab.models.signal_spec`
    chooses them for an input length).
    """
    entry = _entry(name)
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return entry.build(in_channels, **options)
