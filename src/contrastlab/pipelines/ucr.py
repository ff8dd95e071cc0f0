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

from contrastlab._checks import check_choice, check_int
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.features import encode_splits, extract_features
from contrastlab.evaluation.linear_probe import linear_probe, probe_splits
from contrastlab.evaluation.pyramid_selection import PyramidChoice, select_pyramid_depth
from contrastlab.evaluation.svm import svm_accuracy
from contrastlab.models.signal_encoder import SignalEncoder
from contrastlab.pipelines.signal_pretrain import (
    SignalConfig,
    pretrain_encoder,
    probe_figures,
    write_run_outputs,
)
from contrastlab.training.loop import FitResult, count_batches

# TS2Vec's recipe for --method ts2vec: its encoder, batches of 8 and 200 optimizer steps (the
# paper's count for sets of at most 100000 values, all of these small UCR sets). The paper uses
# AdamW at 1e-3; the shared loop's SGD needs its own learning rate (docs/bearing.md). The SVM
# features pool the pyramid's levels that cross-validation on the official training split keeps
# (the paper's full-series maximum alone unless finer levels classify better there): position
# pooling gains 3 points on ArrowHead and 11 on PickupGestureWiimoteZ, and is not chosen on
# OSULeaf, where the full pyramid would lose 15 (docs/bearing.md).
TS2VEC_POOLINGS = ("fixed", "cv")
TS2VEC_DEFAULTS: dict[str, object] = {
    "batch_size": 8,
    "iters": 200,
    "learning_rate": 0.01,
    "cosine": False,
    "ts2vec_pyramid": [1, 2, 4, 8, 16],
    "ts2vec_pooling": "cv",
}


@dataclass
class UCRConfig(SignalConfig):
    """Options of ``contrastlab ucr``: one full batch per epoch on these small sets (TS2Vec trains
    200 iterations on them). The speed-change and spectral-tilt views model rotating machinery,
    not UCR series: they are off by default (generic views only)."""

    dataset: str = "GunPoint"
    data: str | None = None
    model: str = "auto"
    input: str = "raw"
    epochs: int = 200
    batch_size: int = 256
    learning_rate: float = 0.05
    cosine: bool = True
    temp: float = 0.5
    speed_change: float = 0.0
    tilt_db: float = 0.0
    feat_dim: int = 128
    val_fraction: float = 0.2
    probe_epochs: int = 200
    iters: int = 0  # optimizer steps; > 0 replaces --epochs (see training_epochs)
    ts2vec_pooling: str = "fixed"  # or "cv": keep the pyramid levels cross-validation prefers

    @property
    def backbone(self) -> str:
        """``--model auto``: the method's own model for ``cpc`` / ``ts2vec``, else ``resnet1d``."""
        if self.model != "auto":
            return self.model
        return self.method if self.method in ("cpc", "ts2vec") else "resnet1d"

    def validate(self) -> None:
        super().validate()
        check_int("--iters", self.iters, minimum=0)
        check_choice("--ts2vec_pooling", self.ts2vec_pooling, TS2VEC_POOLINGS)
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.probe_epochs < 1:
            raise ValueError(f"--probe_epochs must be >= 1, got {self.probe_epochs}")


def training_epochs(config: UCRConfig, n_series: int) -> int:
    """``--epochs``, or with ``--iters N > 0`` the epochs that give at least ``N`` optimizer steps:
    ``ceil(N / batches per epoch)`` (batches of ``--batch_size``, the last partial one dropped)."""
    if config.iters == 0:
        return config.epochs
    return math.ceil(config.iters / count_batches(n_series, config.batch_size))


def levels_to_consider(config: UCRConfig, length: int) -> list[int]:
    """``--ts2vec_pyramid``; with ``--ts2vec_pooling cv`` (a choice among its prefixes) only its
    leading levels of at most ``length`` segments, the prefixes that fit such series. With
    ``fixed`` every level must fit (the network spec says so otherwise)."""
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


def pretrain_ucr(config: UCRConfig, run_dir: Path) -> UCRPretraining:
    """Load ``config.dataset`` and pretrain ``config.method`` on its official training series
    (labels unused by the self-supervised methods), checkpoints in ``run_dir``."""
    config.validate()
    config.apply_threads()
    data = load_signal_source(
        "ucr", config.data, dataset=config.dataset, val_fraction=config.val_fraction,
        seed=config.seed,
    )  # fmt: skip
    official_train = LabeledTensors(
        torch.cat([data.train.inputs, data.val.inputs]),
        torch.cat([data.train.labels, data.val.labels]),
    )
    length = int(data.train.inputs.shape[2])
    config = dataclasses.replace(
        config,
        epochs=training_epochs(config, len(official_train)),
        ts2vec_pyramid=levels_to_consider(config, length),
    )
    spec = config.network_spec(int(data.train.inputs.shape[1]), length)
    encoder, fit_result = pretrain_encoder(
        config, official_train, spec, run_dir, checkpoint_extra={"class_names": data.class_names}
    )
    return UCRPretraining(config, data, official_train, encoder, fit_result)


def run_ucr(config: UCRConfig) -> dict[str, Any]:
    """Pretrain on the official training series of ``config.dataset``, evaluate frozen features."""
    started = time.perf_counter()
    run_dir = config.run_dir(f"ucr-{config.dataset}-{config.method}")
    pretrained = pretrain_ucr(config, run_dir)
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
        "series": {
            "official_train": len(official_train),
            "test": len(data.test),
            "length": int(data.train.inputs.shape[2]),
            "classes": data.num_classes,
        },
        "epochs": config.epochs,
        "final_loss": fit_result.history[-1]["loss"] if fit_result.history else None,
        "svm": {"test_top1": svm_top1, "C": svm_c},
        **svm_extra,
        "linear_probe": probe_figures(probe),
        "seconds": time.perf_counter() - started,
        "run_dir": str(run_dir),
    }
    write_run_outputs(
        run_dir, config, summary, features["test"], data.test.labels, data.class_names,
        title=f"t-SNE of frozen {config.method} features, {config.dataset} test",
    )  # fmt: skip
    return summary
