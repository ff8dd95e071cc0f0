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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastlab.config.signal import SignalConfig
from contrastlab.data.signal_views import signal_views_augment
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods import ContrastiveViewsMethod, CPCMethod, SiameseMethod, TS2VecMethod
from contrastlab.models.signal_encoder import SignalEncoder, frontend_length
from contrastlab.models.signal_networks import CPCNetwork, TimestampNetwork
from contrastlab.models.signal_spec import (
    build_projection_network,
    build_signal_encoder,
    default_backbone_options,
    make_spec,
)
from contrastlab.training.loop import FitResult, fit
from contrastlab.training.rng import seed_everything


def network_spec(
    config: SignalConfig,
    in_channels: int,
    window_length: int,
    backbone: str | None = None,
    input_name: str | None = None,
) -> dict[str, Any]:
    """The spec of ``config``'s encoder for windows ``[C, window_length]``;
    ``backbone`` / ``input_name`` override ``--model`` / ``--input`` (e.g. for a baseline)."""
    input_name = config.input if input_name is None else input_name
    backbone = config.backbone if backbone is None else backbone
    options = default_backbone_options(
        backbone,
        frontend_length(input_name, window_length),
        cpc_latent_dim=config.cpc_latent_dim,
        cpc_context_dim=config.cpc_context_dim,
        cpc_steps=config.cpc_steps,
        ts2vec_hidden_dim=config.ts2vec_hidden_dim,
        ts2vec_repr_dim=config.ts2vec_repr_dim,
        ts2vec_depth=config.ts2vec_depth,
        ts2vec_pyramid=config.ts2vec_pyramid,
    )
    return make_spec(
        backbone,
        input_name,
        in_channels,
        window_length,
        head=config.head,
        feat_dim=config.feat_dim,
        backbone_options=options,
    )


def views_augment(config: SignalConfig, length: int) -> nn.Module | None:
    """The configured augmentation for windows of ``length`` samples (None: ``--no-augment``)."""
    if not config.augment:
        return None
    return signal_views_augment(length, config.speed_change, config.tilt_db)


def pretraining_parts(
    config: SignalConfig, spec: dict[str, Any], window_length: int, variable_length: bool = False
) -> tuple[nn.Module, nn.Module]:
    """The ``(network, method)`` pair the shared loop trains for ``config.method``;
    ``variable_length``: NaN-padded series of unequal length (TS2Vec only)."""
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
        average_of = network if config.ts2vec_average else None
        return network, TS2VecMethod(average_of=average_of, variable_length=variable_length)
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
    resume_checkpoint: dict[str, Any] | None = None,
) -> tuple[SignalEncoder, FitResult]:
    """Pretrain the encoder of ``spec`` on ``train`` ([N, C, L] windows) with ``config.method``.

    Labels are used only by ``supcon`` and ``siamese``. Returns the trained encoder (in eval
    mode, on the training device; with ``--ts2vec_average`` the average of its weights over the
    training steps, as TS2Vec's code encodes) and the loop's :class:`FitResult` (history, last
    checkpoint).
    """
    seed_everything(config.seed)
    variable_length = config.method == "ts2vec" and bool(torch.isnan(train.inputs).any())
    network, method = pretraining_parts(config, spec, int(train.inputs.shape[-1]), variable_length)
    extra = {"model_spec": spec, "kind": f"signal-{config.method}", **(checkpoint_extra or {})}
    result = fit(
        network, method, train, config, run_dir, checkpoint_extra=extra,
        resume_checkpoint=resume_checkpoint,
    )  # fmt: skip
    if isinstance(method, TS2VecMethod) and method.averaged is not None:
        network = method.averaged
    encoder: SignalEncoder = network.encoder
    return encoder.eval(), result
