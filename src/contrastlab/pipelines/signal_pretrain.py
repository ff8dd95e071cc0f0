"""Contrastive pretraining of a 1-D signal encoder through the shared training loop.

Methods (``--method``):

- ``simclr``: two augmented views per window, NT-Xent (positives = views of the same window);
- ``supcon``: the same views, positives = windows of the same class (**uses the labels**);
- ``cpc``: Contrastive Predictive Coding on each window (needs ``--model cpc``);
- ``siamese``: Hadsell's margin loss on balanced same/different-class pairs (**uses the labels**);
- ``ts2vec``: TS2Vec's hierarchical contrast of two overlapping crops of each window, timestamp by
  timestamp (needs ``--model ts2vec`` and a time-domain ``--input``; no other augmentation).

The augmentation acts on the raw windows, *before* the network's input front-end
(:func:`contrastlab.data.signal_views.signal_views_augment`: speed change and spectral tilt,
then circular shift, jitter, scaling, time and frequency masking).

:class:`SignalConfig` holds the options shared by ``contrastlab bearing``, ``cpc`` and ``ucr``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastlab._checks import check_choice
from contrastlab.data.signal_views import signal_views_augment
from contrastlab.data.splits import LabeledTensors
from contrastlab.evaluation.linear_probe import LinearProbeResult
from contrastlab.evaluation.plots import plot_training_curves, plot_tsne
from contrastlab.methods import ContrastiveViewsMethod, CPCMethod, SiameseMethod, TS2VecMethod
from contrastlab.models.pyramid_pooling import check_pyramid
from contrastlab.models.registry import SIGNAL_BACKBONES as BACKBONES
from contrastlab.models.signal_encoder import (
    INPUT_REPRESENTATIONS,
    SPECTRAL_INPUTS,
    SignalEncoder,
    frontend_length,
)
from contrastlab.models.signal_networks import CPCNetwork, TimestampNetwork
from contrastlab.models.signal_spec import (
    HEADS,
    auto_backbone,
    build_projection_network,
    build_signal_encoder,
    default_backbone_options,
    make_spec,
)
from contrastlab.training.config import TrainConfig
from contrastlab.training.loop import FitResult, fit
from contrastlab.training.rng import seed_everything

SIGNAL_METHODS = ("simclr", "supcon", "cpc", "siamese", "ts2vec")
LABELLED_METHODS = ("supcon", "siamese")


@dataclass
class SignalConfig(TrainConfig):
    """Options shared by the signal commands (model, input representation, pretraining method).

    ``model='auto'`` picks ``cpc`` / ``ts2vec`` for those methods, ``mlp`` (band energies + MLP)
    for the spectral inputs and ``wdcnn`` for time-domain ones. ``speed_change`` (relative) and
    ``tilt_db`` set the physical augmentations (0 switches one off); ``--no-augment`` drops
    every augmentation. The SimCLR / SupCon loss is scaled by ``temp / base_temp``
    (SupContrast's convention, base temperature 0.07; ``base_temp = temp`` gives NT-Xent proper).
    ``ts2vec_*`` size TS2Vec's encoder (``ts2vec_pyramid``: segment counts of its pooling over
    time, :mod:`contrastlab.models.pyramid_pooling`); ``--ts2vec_average`` encodes with the
    average of its weights over all training steps, as TS2Vec's code does (measured worse with
    the loop's SGD on UCR, see docs/bearing.md, hence off).
    """

    method: str = "simclr"
    model: str = "auto"
    input: str = "fft"
    temp: float = 0.1
    head: str = "mlp"
    feat_dim: int = 64
    n_views: int = 2
    margin: float = 1.0
    augment: bool = True
    speed_change: float = 0.03
    tilt_db: float = 3.0
    cpc_steps: int = 8
    cpc_negatives: int = 16
    cpc_latent_dim: int = 64
    cpc_context_dim: int = 64
    ts2vec_hidden_dim: int = 64
    ts2vec_repr_dim: int = 320
    ts2vec_depth: int = 10
    ts2vec_average: bool = False
    ts2vec_pyramid: list[int] = field(default_factory=lambda: [1])
    eval_batch_size: int = 512
    base_temp: float = 0.07
    tsne: bool = True

    def validate(self) -> None:
        super().validate()
        check_choice("--method", self.method, SIGNAL_METHODS)
        check_choice("--model", self.model, ("auto", *BACKBONES))
        check_choice("--input", self.input, INPUT_REPRESENTATIONS)
        check_choice("--head", self.head, HEADS)
        if self.method == "cpc" and self.backbone != "cpc":
            raise ValueError("--method cpc needs --model cpc (or auto)")
        if self.method == "ts2vec" and (self.backbone != "ts2vec" or self.input in SPECTRAL_INPUTS):
            raise ValueError(
                "--method ts2vec needs --model ts2vec (or auto) and --input raw or standardize"
            )
        if not (self.temp > 0 and self.base_temp > 0):
            raise ValueError(
                f"--temp and --base_temp must be > 0, got {self.temp}, {self.base_temp}"
            )
        if self.n_views < 2:
            raise ValueError(f"--n_views must be >= 2, got {self.n_views}")
        if not 0 <= self.speed_change < 1 or self.tilt_db < 0:
            raise ValueError("--speed_change must be in [0, 1) and --tilt_db >= 0")
        if self.margin < 0:
            raise ValueError(f"--margin must be >= 0, got {self.margin}")
        for name in (
            "feat_dim", "cpc_steps", "cpc_negatives", "cpc_latent_dim", "ts2vec_hidden_dim",
            "ts2vec_repr_dim", "ts2vec_depth",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        check_pyramid(self.ts2vec_pyramid, "--ts2vec_pyramid")
        if self.cpc_context_dim < 1 or self.eval_batch_size < 1:
            raise ValueError("--cpc_context_dim and --eval_batch_size must be >= 1")

    @property
    def backbone(self) -> str:
        return self.model if self.model != "auto" else auto_backbone(self.input, self.method)

    def run_dir(self, default_name: str) -> Path:
        return Path(self.out) if self.out else Path("runs") / default_name

    def network_spec(
        self,
        in_channels: int,
        window_length: int,
        backbone: str | None = None,
        input_name: str | None = None,
    ) -> dict[str, Any]:
        """The spec of this configuration's encoder for windows ``[C, window_length]``;
        ``backbone`` / ``input_name`` override ``--model`` / ``--input`` (e.g. for a baseline)."""
        input_name = self.input if input_name is None else input_name
        backbone = self.backbone if backbone is None else backbone
        options = default_backbone_options(
            backbone,
            frontend_length(input_name, window_length),
            cpc_latent_dim=self.cpc_latent_dim,
            cpc_context_dim=self.cpc_context_dim,
            cpc_steps=self.cpc_steps,
            ts2vec_hidden_dim=self.ts2vec_hidden_dim,
            ts2vec_repr_dim=self.ts2vec_repr_dim,
            ts2vec_depth=self.ts2vec_depth,
            ts2vec_pyramid=self.ts2vec_pyramid,
        )
        return make_spec(
            backbone,
            input_name,
            in_channels,
            window_length,
            head=self.head,
            feat_dim=self.feat_dim,
            backbone_options=options,
        )


def views_augment(config: SignalConfig, length: int) -> nn.Module | None:
    """The configured augmentation for windows of ``length`` samples (None: ``--no-augment``)."""
    if not config.augment:
        return None
    return signal_views_augment(length, config.speed_change, config.tilt_db)


def pretraining_parts(
    config: SignalConfig, spec: dict[str, Any], window_length: int
) -> tuple[nn.Module, nn.Module]:
    """The ``(network, method)`` pair the shared loop trains for ``config.method``."""
    augment = views_augment(config, window_length)
    if config.method == "cpc":
        options = spec["backbone_options"]
        method = CPCMethod(
            options["latent_dim"],
            options["context_dim"],
            prediction_steps=config.cpc_steps,
            n_negatives=config.cpc_negatives,
        )
        return CPCNetwork(build_signal_encoder(spec)), method
    if config.method == "ts2vec":
        network = TimestampNetwork(build_signal_encoder(spec))
        return network, TS2VecMethod(average_of=network if config.ts2vec_average else None)
    if config.method == "siamese":
        return build_projection_network(spec, normalize=False), SiameseMethod(
            augment=augment, margin=config.margin
        )
    method = ContrastiveViewsMethod(
        augment if augment is not None else nn.Identity(),
        method=config.method,
        temperature=config.temp,
        base_temperature=config.base_temp,
        n_views=config.n_views,
    )
    return build_projection_network(spec, normalize=True), method


def pretrain_encoder(
    config: SignalConfig,
    train: LabeledTensors,
    spec: dict[str, Any],
    run_dir: Path,
    checkpoint_extra: dict[str, Any] | None = None,
) -> tuple[SignalEncoder, FitResult]:
    """Pretrain the encoder of ``spec`` on ``train`` ([N, C, L] windows) with ``config.method``.

    Labels are used only by ``supcon`` and ``siamese``. Returns the trained encoder (in eval
    mode, on the training device; with ``--ts2vec_average`` the average of its weights over the
    training steps, as TS2Vec's code encodes) and the loop's :class:`FitResult` (history, last
    checkpoint).
    """
    if train.inputs.dim() != 3:
        raise ValueError(f"signal windows must be [N, C, L], got {tuple(train.inputs.shape)}")
    seed_everything(config.seed)
    network, method = pretraining_parts(config, spec, int(train.inputs.shape[-1]))
    extra = {"model_spec": spec, "kind": f"signal-{config.method}", **(checkpoint_extra or {})}
    result = fit(network, method, train, config, run_dir, checkpoint_extra=extra)
    if isinstance(method, TS2VecMethod) and method.averaged is not None:
        network = method.averaged
    encoder: SignalEncoder = network.encoder
    return encoder.eval(), result


def probe_figures(result: LinearProbeResult) -> dict[str, float]:
    """The figures of a linear probe that go into ``summary.json``."""
    return {
        "val_top1": result.val_top1,
        "test_top1": result.test_top1,
        "best_epoch": result.best_epoch,
    }


def write_run_outputs(
    run_dir: Path,
    config: SignalConfig,
    summary: dict[str, Any],
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    class_names: list[str],
    title: str,
) -> Path:
    """Training curves, the t-SNE of the frozen test features (unless ``--no-tsne``) and
    ``summary.json`` (sorted keys) in ``run_dir``; returns the summary's path."""
    plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
    if config.tsne:
        plot_tsne(
            test_features,
            test_labels,
            class_names,
            run_dir / "tsne_test.png",
            seed=config.seed,
            title=title,
        )
    path = run_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path
