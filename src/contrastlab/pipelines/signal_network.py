"""Networks of the signal pipelines, built from a plain-data *spec* so checkpoints rebuild them.

A signal encoder is an **input representation** (front-end) followed by a 1-D backbone::

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
with the model.

Backbones (``backbone``): ``mlp`` (:class:`BandMLP`: band energies of a spectrum, then an MLP),
``wdcnn`` (:class:`~contrastlab.models.wdcnn.WDCNN`), ``resnet1d``
(:class:`~contrastlab.models.resnet1d.ResNet1d`), ``cpc`` (:class:`~contrastlab.models.cpc.CPC`,
features = mean context) and ``ts2vec`` (:class:`~contrastlab.models.ts2vec.TS2VecEncoder`,
features = maximum over time of its per-timestamp representations). Their constructor options
are chosen for the input length by :func:`default_backbone_options` and stored in the spec.

Why ``mlp`` for spectra: the convolutional encoders end in global average pooling, which is
invariant to *where* a pattern sits; on a spectrum "where" is the frequency, the very thing that
tells an inner-race line from an outer-race one. Measured on CWRU (``docs/bearing.md``), the band
MLP's SimCLR features classify another load's recordings better than WDCNN's on the same FFT input,
markedly so at one label per class.

The spec is a dict of plain data::

    {"backbone": str, "backbone_options": {...}, "input": str, "in_channels": int,
     "input_length": int, "head": "mlp" | "linear", "feat_dim": int}

Heads and networks: :class:`ProjectionNetwork` (encoder + projection head, for SimCLR / SupCon /
Siamese), :class:`CPCNetwork` (``x -> (z, c)`` plus the CPC loss as ``.criterion``),
:class:`TimestampNetwork` (``x -> [B, L, D]``, for TS2Vec) and
:class:`SignalClassifier` (encoder + linear layer, for fine-tuning, baselines and diagnosis).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_choice, check_float_tensor
from contrastlab.data.spectra import EnvelopeSpectrum, FFTMagnitude, PerWindowStandardize
from contrastlab.losses.cpc import CPCLoss
from contrastlab.models.cpc import CPC
from contrastlab.models.heads import linear_head, mlp_head
from contrastlab.models.pyramid_pooling import check_pyramid
from contrastlab.models.resnet1d import ResNet1d
from contrastlab.models.ts2vec import TS2VecEncoder
from contrastlab.models.wdcnn import WDCNN

INPUT_REPRESENTATIONS = ("raw", "standardize", "fft", "envelope")
BACKBONES = ("mlp", "wdcnn", "resnet1d", "cpc", "ts2vec")
SPECTRAL_INPUTS = ("fft", "envelope")
TIMESTAMP_BACKBONES = ("cpc", "ts2vec")  # models whose training needs their own method
HEADS = ("mlp", "linear")


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


def auto_backbone(input_name: str, method: str) -> str:
    """``--model auto``: ``cpc`` / ``ts2vec`` for those methods, ``mlp`` for spectral inputs (their
    features are tied to frequency positions), ``wdcnn`` for time-domain inputs."""
    if method in TIMESTAMP_BACKBONES:
        return method
    return "mlp" if input_name in SPECTRAL_INPUTS else "wdcnn"


class BandMLP(nn.Module):
    """Band energies + MLP: ``x [B, C, L] -> features [B, widths[-1]]``.

    ``x`` is averaged over bands of ``band_width`` consecutive steps (``[B, C, L // band_width]``,
    a trailing partial band dropped), flattened to ``[B, C * (L // band_width)]`` and passed
    through ``Linear -> BatchNorm -> ReLU`` blocks of ``widths``. Every band has its own weights,
    so the features know where in the spectrum energy sits. Built for inputs of exactly
    ``input_length`` steps.
    """

    def __init__(
        self,
        in_channels: int,
        input_length: int,
        band_width: int = 8,
        widths: Sequence[int] = (256, 128),
    ) -> None:
        super().__init__()
        numbers = (in_channels, input_length, band_width, *widths)
        if not widths or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in numbers
        ):
            raise ValueError(
                "in_channels, input_length, band_width and widths (at least one) must be positive "
                f"integers, got {in_channels}, {input_length}, {band_width}, {tuple(widths)}"
            )
        if input_length < band_width:
            raise ValueError(f"input_length {input_length} is shorter than one band ({band_width})")
        self.in_channels, self.input_length, self.band_width = in_channels, input_length, band_width
        layers: list[nn.Module] = []
        previous = in_channels * (input_length // band_width)
        for width in widths:
            layers += [nn.Linear(previous, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            previous = width
        self.mlp = nn.Sequential(*layers)
        self.feature_dim: int = previous
        self.min_input_length: int = input_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, in_channels, input_length] -> [B, feature_dim]``."""
        check_float_tensor("x", x, ndim=3)
        if x.shape[1:] != (self.in_channels, self.input_length):
            raise ValueError(
                f"BandMLP was built for inputs [B, {self.in_channels}, {self.input_length}], "
                f"got {tuple(x.shape)}"
            )
        bands = F.avg_pool1d(x, self.band_width)
        return self.mlp(bands.flatten(1))


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
    cpc_negatives: int = 16,
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
    - ``cpc``: latent / context sizes, ``K`` steps, ``N`` negatives, and strides from
      (4, 2, 2, 2) reduced until at least ``2 (K + 1)`` latent steps remain.
    - ``ts2vec``: hidden width, representation size and depth (the paper's 64, 320, 10) and the
      segment counts of the pooling over time (``(1,)``: the paper's maximum over the series);
      the encoder keeps the length, so any ``length`` of at least ``max(pyramid)`` works.
    """
    check_choice("backbone", backbone, BACKBONES)
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
        "prediction_steps": cpc_steps,
        "n_negatives": cpc_negatives,
        "strides": strides,
        "kernel_sizes": [max(2 * s, 3) for s in strides],
    }


def _build_backbone(name: str, in_channels: int, options: dict[str, Any]) -> nn.Module:
    check_choice("backbone", name, BACKBONES)
    options = dict(options)
    for key, value in options.items():  # YAML / JSON give lists; the models accept sequences
        if isinstance(value, list):
            options[key] = tuple(value)
    if name == "mlp":
        return BandMLP(in_channels, **options)
    if name == "wdcnn":
        return WDCNN(in_channels, **options)
    if name == "resnet1d":
        return ResNet1d(in_channels, **options)
    if name == "ts2vec":
        return TS2VecEncoder(in_channels, **options)
    return CPC(in_channels, **options)


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
    """``x [B, C, L] -> (z [B, T, D], c [B, T, H])`` of a CPC encoder; ``criterion`` is the CPC
    loss holding the predictors ``W_k`` (what :class:`contrastlab.methods.CPCMethod` needs)."""

    def __init__(self, encoder: SignalEncoder) -> None:
        super().__init__()
        if not isinstance(encoder.backbone, CPC):
            raise ValueError("method 'cpc' needs the 'cpc' backbone (--model cpc)")
        self.encoder = encoder

    @property
    def criterion(self) -> CPCLoss:
        return self.encoder.backbone.criterion

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
    check_choice("backbone", backbone, BACKBONES)
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


def build_encoder(spec: dict[str, Any]) -> SignalEncoder:
    """Rebuild the encoder of ``spec``; raises ValueError when its windows are too short for it."""
    missing = [k for k in ("backbone", "backbone_options", "input", "in_channels") if k not in spec]
    if missing:
        raise ValueError(f"network spec lacks {missing}")
    backbone = _build_backbone(spec["backbone"], int(spec["in_channels"]), spec["backbone_options"])
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
    encoder = build_encoder(spec)
    dim = encoder.feature_dim
    head = (
        mlp_head(dim, dim, spec["feat_dim"])
        if spec.get("head", "mlp") == "mlp"
        else linear_head(dim, spec["feat_dim"])
    )
    return ProjectionNetwork(encoder, head, normalize=normalize)


def build_classifier(spec: dict[str, Any], num_classes: int) -> SignalClassifier:
    """A fresh :class:`SignalClassifier` for ``spec``."""
    return SignalClassifier(build_encoder(spec), num_classes)
