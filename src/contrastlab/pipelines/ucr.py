"""``contrastlab ucr``: contrastive pretraining on a UCR set, then classifiers on frozen features.

Protocol (TS2Vec's, Yue et al. AAAI 2022): the encoder is pretrained on the official training
series only (labels unused by ``simclr`` / ``cpc`` / ``ts2vec``); the frozen features are then
classified by

- ``svm``: an RBF SVM (``gamma='scale'``) on the official training split, with ``C`` chosen by
  5-fold cross-validation over ``{1e-4, ..., 1e4, 1e8}`` when every class has at least 5 series
  and there are at least 50 (else ``C = 1e8``, a practically hard margin; TS2Vec uses ``inf``);
- ``linear_probe``: the softmax probe of :func:`contrastlab.evaluation.linear_probe.linear_probe`
  fitted on the training part, epoch chosen on the validation part held out of the official
  training split.

The official test split is scored once by each. With a TS2Vec encoder pooling a temporal pyramid
(``--ts2vec_pyramid``), the SVM is also fitted on the paper's own full-series encoding, the
maximum over all timestamps of the same representations (``svm_full_series_max`` in
``summary.json``): the two differ only in the pooling. The UCR sets bundled with aeon load offline
(GunPoint, ArrowHead, ItalyPowerDemand, ...); aeon is the optional extra ``contrastlab[ucr]``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlab._checks import check_int
from contrastlab.data.signal_sources import load_signal_source
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.features import encode_splits, extract_features
from contrastlab.evaluation.linear_probe import linear_probe, probe_splits
from contrastlab.pipelines.signal_network import SignalEncoder
from contrastlab.pipelines.signal_pretrain import (
    SignalConfig,
    pretrain_encoder,
    probe_figures,
    write_run_outputs,
)
from contrastlab.training.loop import FitResult, count_batches

SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e8)
HARD_MARGIN_C = 1e8

# TS2Vec's recipe for --method ts2vec: its encoder, batches of 8 and 200 optimizer steps (the
# paper's count for sets of at most 100000 values, all of these small UCR sets). The paper uses
# AdamW at 1e-3; the shared loop's SGD needs its own learning rate (docs/bearing.md). The
# features are the paper's full-series maximum: --ts2vec_pyramid 1,2,4,8 gains 6 points on
# ArrowHead but loses 15 on OSULeaf (docs/bearing.md), so it is an option, not the recipe.
TS2VEC_DEFAULTS: dict[str, object] = {
    "batch_size": 8,
    "iters": 200,
    "learning_rate": 0.01,
    "cosine": False,
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

    @property
    def backbone(self) -> str:
        """``--model auto``: the method's own model for ``cpc`` / ``ts2vec``, else ``resnet1d``."""
        if self.model != "auto":
            return self.model
        return self.method if self.method in ("cpc", "ts2vec") else "resnet1d"

    def validate(self) -> None:
        super().validate()
        check_int("--iters", self.iters, minimum=0)
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


def svm_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    seed: int = 0,
) -> tuple[float, float]:
    """TS2Vec's SVM protocol (see the module docstring); returns ``(test accuracy %, chosen C)``."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    x_train, y_train = train_features.double().numpy(), train_labels.numpy()
    counts = np.bincount(y_train)
    counts = counts[counts > 0]
    if len(counts) < 2:
        raise ValueError("the SVM needs at least two classes in the training split")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear/libsvm chatter about iteration limits
        if counts.min() < 5 or len(y_train) < 50:
            model = SVC(C=HARD_MARGIN_C, gamma="scale").fit(x_train, y_train)
        else:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            search = GridSearchCV(SVC(gamma="scale"), {"C": list(SVM_C_GRID)}, cv=folds)
            model = search.fit(x_train, y_train).best_estimator_
    predictions = model.predict(test_features.double().numpy())
    return 100.0 * float(np.mean(predictions == test_labels.numpy())), float(model.C)


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
    spec = config.network_spec(int(data.train.inputs.shape[1]), int(data.train.inputs.shape[2]))
    config = dataclasses.replace(config, epochs=training_epochs(config, len(official_train)))
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
    svm_top1, svm_c = svm_accuracy(
        train_features, official_train.labels, features["test"], data.test.labels, seed=config.seed
    )  # fmt: skip
    pyramid = getattr(encoder.backbone, "pyramid", None)  # TS2Vec encoders only
    svm_extra: dict[str, Any] = {} if pyramid is None else {"pyramid": list(pyramid)}
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
