"""``contrastlab ucr``: contrastive pretraining on a UCR set, then classifiers on frozen features.

Protocol (TS2Vec's, Yue et al. AAAI 2022): the encoder is pretrained on the official training
series only (labels unused by ``simclr`` / ``cpc`` / ``ts2vec``); the frozen features are then
classified by

- ``svm``: an RBF SVM on the official training split, ``C`` chosen by cross-validation on it
  (:mod:`contrastlab.evaluation.svm`);
- ``linear_probe``: the softmax probe of :func:`contrastlab.evaluation.linear_probe.linear_probe`
  fitted on the training part, epoch chosen on the validation part held out of the official
  training split.

The official test split is scored once by each. A TS2Vec encoder pools its per-timestamp
representations over the temporal pyramid ``--ts2vec_pyramid``; with ``--ts2vec_pooling cv`` (the
recipe's) the features keep only the levels that classify best in cross-validation on the
official training split (:mod:`contrastlab.evaluation.pyramid_selection`), so ``1,2,4,8,16`` may
end as the paper's full-series maximum alone (``1``) or as any deeper prefix. Whenever the
features pool more than the full-series maximum, the SVM is also fitted on that maximum of the
same representations (``svm_full_series_max`` in ``summary.json``): the two differ only in the
pooling. The UCR sets bundled with aeon load offline
(GunPoint, ArrowHead, ItalyPowerDemand, ...); aeon is the optional extra ``contrastlab[ucr]``.

``--normalization`` chooses the values the network sees (:mod:`contrastlab.data.ucr`: as stored,
per series, or TS2Vec's z-score over the official training split). **Series of unequal length**
are padded with NaN to the longest; TS2Vec's encoder masks the padding (its crops stay inside each
series, its convolutions and pooling skip the padding), so such a set needs ``--method ts2vec``
with ``--input raw``. The other models are refused rather than fed zero-padded or resampled
series: zeros would be read as a flat stretch of signal (and the length of the padding, which
often differs by class, would become a feature), and resampling would change every series' time
scale; TS2Vec needs neither. The pyramid's levels must fit the shortest series.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from contrastlab.config.signal import UCRConfig
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.data.ucr import require_equal_lengths
from contrastlab.evaluation.features import encode_splits, extract_features
from contrastlab.evaluation.linear_probe import linear_probe, probe_splits
from contrastlab.evaluation.plots import draw_run_figures
from contrastlab.evaluation.pyramid_selection import PyramidChoice, select_pyramid_depth
from contrastlab.evaluation.svm import svm_accuracy
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.training import distributed
from contrastlab.training.batches import count_batches
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import FitResult
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.run_directory import RunDirectory, claimed_run, usable_run_path
from contrastlab.training.signal_pretraining import network_spec, pretrain_encoder


def training_epochs(config: UCRConfig, n_series: int) -> int:
    """``--epochs``, or with ``--iters N > 0`` the epochs that give at least ``N`` optimizer steps:
    ``ceil(N / batches per epoch)`` (batches of ``--batch_size``, the last partial one dropped)."""
    if config.iters == 0:
        return config.epochs
    return math.ceil(config.iters / count_batches(n_series, config.batch_size))


def levels_to_consider(config: UCRConfig, length: int) -> list[int]:
    """``--ts2vec_pyramid``; with ``--ts2vec_pooling cv`` (a choice among its prefixes) only its
    leading levels of at most ``length`` segments (the shortest series' length), the prefixes
    that fit every series. With ``fixed`` every level must fit (the network spec says so
    otherwise)."""
    pyramid = list(config.ts2vec_pyramid)
    if config.backbone != "ts2vec" or config.ts2vec_pooling != "cv":
        return pyramid
    kept = list(itertools.takewhile(lambda segments: segments <= length, pyramid))
    return kept or pyramid  # not even the first level fits: the network spec says so


def choose_pooling(
    config: UCRConfig,
    pyramid: tuple[int, ...] | None,
    train_features: torch.Tensor,
    labels: torch.Tensor,
) -> PyramidChoice | None:
    """With a TS2Vec encoder's ``pyramid`` and ``--ts2vec_pooling cv``: the prefix of it chosen
    by cross-validation on the official training split's ``train_features [N, D sum(pyramid)]``
    and ``labels [N]``; else None (nothing to choose)."""
    if pyramid is None or config.ts2vec_pooling != "cv":
        return None
    return select_pyramid_depth(train_features, labels, pyramid, seed=config.seed)


def full_series_max(features: torch.Tensor, pyramid: list[int] | tuple[int, ...]) -> torch.Tensor:
    """The maximum over all timestamps, ``[N, D]``, from temporal-pyramid features
    ``[N, D sum(pyramid)]`` (:func:`contrastlab.models.pyramid_pooling.temporal_pyramid_max`):
    the maximum over the ``pyramid[0]`` segment maxima of the first level, since those segments
    cover the series."""
    first = pyramid[0]
    width = features.shape[1] // sum(pyramid)
    return features[:, : first * width].reshape(len(features), first, width).amax(dim=1)


@dataclass
class UCRPretraining:
    """What :func:`pretrain_ucr` returns: the configuration with its epochs resolved, the data
    (train / val / test), the official training split (train + val), the trained encoder and the
    loop's result."""

    config: UCRConfig
    data: DataSplits
    official_train: LabeledTensors
    encoder: SignalEncoder
    fit_result: FitResult


def load_ucr(config: UCRConfig) -> tuple[UCRConfig, DataSplits, LabeledTensors]:
    """Load ``config.dataset``: ``(config with its epochs and pyramid resolved for the set, data
    (train / val / test), the official training split (train + val))``. Raises ValueError when the
    set cannot be evaluated (a validation split without series), before any training."""
    data = load_signal_source(
        "ucr", config.data, dataset=config.dataset, val_fraction=config.val_fraction,
        normalization=config.normalization, seed=config.seed,
    )  # fmt: skip
    if len(data.val) == 0 or len(data.train) == 0:
        raise ValueError(
            f"{config.dataset}: --val_fraction {config.val_fraction} leaves "
            f"{len(data.train)} training and {len(data.val)} validation series of "
            f"{len(data.train) + len(data.val)}; the linear probe needs both (raise or lower "
            "--val_fraction)"
        )
    check_padding(config, data)
    official_train = LabeledTensors(
        torch.cat([data.train.inputs, data.val.inputs]),
        torch.cat([data.train.labels, data.val.labels]),
    )
    config = dataclasses.replace(
        config,
        epochs=training_epochs(config, len(official_train)),
        ts2vec_pyramid=levels_to_consider(config, data.metadata["min_length"]),
    )
    ucr_network_spec(config, data)  # every level fits the shortest series (else ValueError)
    return config, data, official_train


def check_padding(config: UCRConfig, data: DataSplits) -> None:
    """A set of unequal lengths (NaN padding) needs ``--method ts2vec`` and ``--input raw``
    (module docstring); ValueError otherwise."""
    if config.method != "ts2vec":
        require_equal_lengths(data, f"--method {config.method} (--model {config.backbone})")
    elif config.input != "raw" and not data.metadata["equal_length"]:
        raise ValueError(
            f"UCR data set {config.dataset!r} has series of unequal length, padded with NaN: "
            f"--input {config.input} would transform each padded series as a whole; use --input "
            "raw (with --normalization per_series for series standardised one by one)"
        )


def ucr_network_spec(config: UCRConfig, data: DataSplits) -> dict[str, Any]:
    """The encoder's spec for ``data``'s series, sized for the shortest one (TS2Vec's encoder
    takes any length; the pyramid's levels must fit the shortest series)."""
    return network_spec(config, int(data.train.inputs.shape[1]), data.metadata["min_length"])


def pretrain_ucr(
    config: UCRConfig,
    run_dir: Path,
    resume_checkpoint: dict[str, Any] | None = None,
    loaded: tuple[UCRConfig, DataSplits, LabeledTensors] | None = None,
) -> UCRPretraining:
    """Load ``config.dataset`` (or take ``loaded``, what :func:`load_ucr` returned) and pretrain
    ``config.method`` on its official training series (labels unused by the self-supervised
    methods), checkpoints in ``run_dir`` (claimed)."""
    config, data, official_train = loaded if loaded is not None else load_ucr(config)
    spec = ucr_network_spec(config, data)
    encoder, fit_result = pretrain_encoder(
        config, official_train, spec, run_dir, checkpoint_extra={"class_names": data.class_names},
        resume_checkpoint=resume_checkpoint,
    )  # fmt: skip
    return UCRPretraining(config, data, official_train, encoder, fit_result)


def run_ucr(config: UCRConfig) -> dict[str, Any]:
    """Pretrain on the official training series of ``config.dataset``, evaluate frozen features."""
    started = time.perf_counter()
    path = usable_run_path(
        config.out,
        f"ucr-{config.dataset}-{config.method}",
        config.resume,
        config.overwrite,
        inputs=(config.resume, config.data),
    )
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    loaded = load_ucr(config)  # every check of the set before the run directory is claimed
    resolved = loaded[0]  # --iters resolved into epochs, as the checkpoint recorded them
    resumed = load_resume_checkpoint(resolved, device) if config.resume else None
    with claimed_run(
        path, config.resume, config.overwrite, inputs=(config.resume, config.data)
    ) as run:
        summary = _pretrain_and_evaluate(config, run, resumed, loaded)
        if not distributed.is_main_process():
            return {}
        summary["seconds"] = time.perf_counter() - started
        run.write_summary(summary, provenance(device, config.seed))
    return summary


def _pretrain_and_evaluate(
    config: UCRConfig,
    run: RunDirectory,
    resumed: dict[str, Any] | None,
    loaded: tuple[UCRConfig, DataSplits, LabeledTensors],
) -> dict[str, Any]:
    pretrained = pretrain_ucr(config, run.path, resumed, loaded)
    if not distributed.is_main_process():  # rank 0 evaluates and writes the run's files
        return {}
    config, data, official_train = pretrained.config, pretrained.data, pretrained.official_train
    encoder, fit_result = pretrained.encoder, pretrained.fit_result
    features = encode_splits(encoder, data, config.eval_batch_size)
    train_features = extract_features(encoder, official_train.inputs, config.eval_batch_size)
    pyramid = getattr(encoder.backbone, "pyramid", None)  # TS2Vec encoders only
    choice = choose_pooling(config, pyramid, train_features, official_train.labels)
    if choice is not None:  # keep the chosen levels' leading columns of every split
        features = {name: split[:, : choice.columns] for name, split in features.items()}
        train_features = train_features[:, : choice.columns]
        pyramid = choice.pyramid
    svm_top1, svm_c = svm_accuracy(
        train_features, official_train.labels, features["test"], data.test.labels, seed=config.seed
    )  # fmt: skip
    svm_extra: dict[str, Any] = {} if pyramid is None else {"pyramid": list(pyramid)}
    if choice is not None:
        svm_extra["pyramid_cv_accuracy"] = choice.cv_accuracy
    if pyramid is not None and tuple(pyramid) != (1,):
        paper_top1, paper_c = svm_accuracy(
            full_series_max(train_features, pyramid), official_train.labels,
            full_series_max(features["test"], pyramid), data.test.labels, seed=config.seed,
        )  # fmt: skip
        svm_extra["svm_full_series_max"] = {"test_top1": paper_top1, "C": paper_c}
    probe = probe_splits(linear_probe, features, data, epochs=config.probe_epochs, seed=config.seed)
    summary = {
        "dataset": config.dataset,
        "method": config.method,
        "model": config.backbone,
        "input": config.input,
        "normalization": config.normalization,
        "series": {
            "official_train": len(official_train),
            "test": len(data.test),
            "length": data.metadata["length"],
            "min_length": data.metadata["min_length"],
            "classes": data.num_classes,
        },
        "epochs": config.epochs,
        "final_loss": fit_result.history[-1]["loss"] if fit_result.history else None,
        "svm": {"test_top1": svm_top1, "C": svm_c},
        **svm_extra,
        "linear_probe": probe.figures(),
        "run_dir": str(run.path),
    }
    draw_run_figures(
        run.path, features["test"], data.test.labels, data.class_names, config.seed,
        tsne=config.tsne, title=f"t-SNE of frozen {config.method} features, {config.dataset} test",
    )  # fmt: skip
    return summary
