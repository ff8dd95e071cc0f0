"""Signal networks built from a plain-data *spec*, so that checkpoints rebuild them.

The spec is a dict of plain data::

    {"backbone": str, "backbone_options": {...}, "input": str, "in_channels": int,
     "input_length": int, "head": "mlp" | "linear", "feat_dim": int}

``input`` names the front-end (:mod:`contrastlab.models.signal_encoder`), ``backbone`` one of the
registry's signal backbones (:mod:`contrastlab.models.registry`): ``mlp``
(:class:`~contrastlab.models.band_mlp.BandMLP`), ``wdcnn``, ``resnet1d``, ``cpc`` (features = mean
context) and ``ts2vec`` (features = its pyramid max pooling over time). Their constructor options
are chosen for the input length by :func:`default_backbone_options` and stored in the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contrastlab._checks import check_choice
from contrastlab.config.choices import HEADS, TIMESTAMP_BACKBONES
from contrastlab.models.heads import linear_head, mlp_head
from contrastlab.models.pyramid_pooling import check_pyramid
from contrastlab.models.registry import SIGNAL_BACKBONES, build_encoder
from contrastlab.models.signal_encoder import (
    INPUT_REPRESENTATIONS,
    SPECTRAL_INPUTS,
    SignalEncoder,
    build_frontend,
    frontend_length,
)
from contrastlab.models.signal_networks import ProjectionNetwork, SignalClassifier


def auto_backbone(input_name: str, method: str) -> str:
    """``--model auto``: ``cpc`` / ``ts2vec`` for those methods, ``mlp`` for spectral inputs (their
    features are tied to frequency positions), ``wdcnn`` for time-domain inputs."""
    if method in TIMESTAMP_BACKBONES:
        return method
    return "mlp" if input_name in SPECTRAL_INPUTS else "wdcnn"


def _cpc_strides(length: int, prediction_steps: int) -> list[int]:
    """The CPC paper-style strides (4, 2, 2, 2), with trailing ones set to 1 until the encoder
    keeps at least ``2 (K + 1)`` time steps of a ``length``-sample input."""
    strides = [4, 2, 2, 2]
    for index in reversed(range(len(strides))):
        total = 1
        for stride in strides:
            total *= stride
        if length // total >= 2 * (prediction_steps + 1):
            break
        strides[index] = 1
    return strides


def default_backbone_options(
    backbone: str,
    length: int,
    cpc_latent_dim: int = 64,
    cpc_context_dim: int = 64,
    cpc_steps: int = 8,
    ts2vec_hidden_dim: int = 64,
    ts2vec_repr_dim: int = 320,
    ts2vec_depth: int = 10,
    ts2vec_pyramid: Sequence[int] = (1,),
) -> dict[str, Any]:
    """Constructor options of ``backbone`` suited to front-end outputs of ``length`` steps.

    - ``mlp``: bands of 8 steps (1 for inputs shorter than 512), two layers of 256 and 128.
    - ``wdcnn``: the paper's wide first layer (64 / 16) for ``length >= 1024``; for shorter inputs
      the first stride becomes ``max(1, length // 64)`` (kernel 4x the stride), which keeps the
      five poolings alive.
    - ``resnet1d``: a small 4-stage ResNet (widths 32-128, one block per stage); for inputs
      shorter than 256 steps the stem keeps the full resolution (stride 1, no max-pool).
    - ``cpc``: latent / context sizes and strides from
      (4, 2, 2, 2) reduced until at least ``2 (K + 1)`` latent steps remain.
    - ``ts2vec``: hidden width, representation size and depth (the paper's 64, 320, 10) and the
      segment counts of the pooling over time (``(1,)``: the paper's maximum over the series);
      the encoder keeps the length, so any ``length`` of at least ``max(pyramid)`` works.
    """
    check_choice("backbone", backbone, SIGNAL_BACKBONES)
    if backbone == "mlp":
        return {
            "input_length": length,
            "band_width": 8 if length >= 512 else 1,
            "widths": [256, 128],
        }
    if backbone == "wdcnn":
        if length >= 1024:
            return {}
        stride = max(1, length // 64)
        return {"first_kernel_size": 4 * stride, "first_stride": stride}
    if backbone == "resnet1d":
        short = length < 256
        return {
            "widths": [32, 64, 128, 128],
            "blocks_per_stage": [1, 1, 1, 1],
            "stem_kernel_size": 7 if short else 15,
            "stem_stride": 1 if short else 2,
            "stem_pool": not short,
        }
    if backbone == "ts2vec":
        pyramid = list(check_pyramid(ts2vec_pyramid, "--ts2vec_pyramid"))
        if length < max(pyramid):
            raise ValueError(
                f"--ts2vec_pyramid {','.join(map(str, pyramid))} pools series of {length} "
                f"timestamps into {max(pyramid)} segments: use at most {length} segments"
            )
        return {
            "hidden_dim": ts2vec_hidden_dim,
            "repr_dim": ts2vec_repr_dim,
            "depth": ts2vec_depth,
            "pyramid": pyramid,
        }
    strides = _cpc_strides(length, cpc_steps)
    return {
        "latent_dim": cpc_latent_dim,
        "context_dim": cpc_context_dim,
        "strides": strides,
        "kernel_sizes": [max(2 * s, 3) for s in strides],
    }


def make_spec(
    backbone: str,
    input_name: str,
    in_channels: int,
    window_length: int,
    head: str = "mlp",
    feat_dim: int = 64,
    backbone_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A network spec (see the module docstring); ``backbone_options`` default to
    :func:`default_backbone_options` for the front-end's output length."""
    check_choice("backbone", backbone, SIGNAL_BACKBONES)
    check_choice("input", input_name, INPUT_REPRESENTATIONS)
    check_choice("head", head, HEADS)
    length = frontend_length(input_name, window_length)
    options = (
        default_backbone_options(backbone, length)
        if backbone_options is None
        else dict(backbone_options)
    )
    return {
        "backbone": backbone,
        "backbone_options": options,
        "input": input_name,
        "in_channels": int(in_channels),
        "input_length": int(window_length),
        "head": head,
        "feat_dim": int(feat_dim),
    }


def build_signal_encoder(spec: dict[str, Any]) -> SignalEncoder:
    """Rebuild the encoder of ``spec``; raises ValueError when its windows are too short for it."""
    missing = [k for k in ("backbone", "backbone_options", "input", "in_channels") if k not in spec]
    if missing:
        raise ValueError(f"network spec lacks {missing}")
    check_choice("backbone", spec["backbone"], SIGNAL_BACKBONES)
    backbone = build_encoder(spec["backbone"], int(spec["in_channels"]), **spec["backbone_options"])
    encoder = SignalEncoder(build_frontend(spec["input"]), backbone)
    length = spec.get("input_length")
    if length is not None:
        needed = int(getattr(backbone, "min_input_length", 1))
        available = frontend_length(spec["input"], int(length))
        if available < needed:
            raise ValueError(
                f"windows of {length} samples give {available} steps after the {spec['input']!r} "
                f"front-end, but the {spec['backbone']} backbone needs at least {needed}: use a "
                "longer --window_length or another --model / --input"
            )
    return encoder


def build_projection_network(spec: dict[str, Any], normalize: bool = True) -> ProjectionNetwork:
    """Encoder + the spec's head (``mlp``: Linear-ReLU-Linear; ``linear``) to ``feat_dim``."""
    encoder = build_signal_encoder(spec)
    dim = encoder.feature_dim
    head = (
        mlp_head(dim, dim, spec["feat_dim"])
        if spec.get("head", "mlp") == "mlp"
        else linear_head(dim, spec["feat_dim"])
    )
    return ProjectionNetwork(encoder, head, normalize=normalize)


def build_classifier(spec: dict[str, Any], num_classes: int) -> SignalClassifier:
    """A fresh :class:`SignalClassifier` for ``spec``."""
    return SignalClassifier(build_signal_encoder(spec), num_classes)
