"""Linear evaluation of frozen features (SupContrast ``main_linear.py``, on precomputed features).

Protocol: features are standardised with the **train** mean and standard deviation; a linear
classifier ``logits = W z + b`` is fitted on train with cross-entropy; its hyper-parameter (the
epoch for :func:`linear_probe`, the inverse regularisation ``C`` for
:func:`logistic_regression_probe`) is chosen on the **validation** split; the test split is scored
once, with the chosen weights. Test scores never influence any choice. Without a validation split
:func:`linear_probe` chooses nothing: it keeps the last epoch of a fixed schedule.

:func:`linear_probe` has its own small epoch loop instead of the shared training loop
(:func:`contrastlab.training.loop.fit`), the one exception: it trains a single linear layer on
features already in memory, hundreds of times per run (every few-label draw), and needs the
validation score of every epoch to choose one. The shared loop's run directory, checkpoints,
augmentation, schedule and DDP would cost more than the probe and give it nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import (
    check_float_tensor,
    check_int,
    check_non_negative,
    check_positive,
)
from contrastlab.data.splits import DataSplits
from contrastlab.evaluation.metrics import check_class_indices, check_num_classes, topk_accuracy

ProbeResult = TypeVar("ProbeResult")


@dataclass
class LinearProbeResult:
    """Outcome of :func:`linear_probe`. Accuracies in percent; ``best_epoch`` is 1-based.

    ``history``: one dict per epoch with ``epoch``, ``train_loss`` (mean over the epoch's
    mini-batches), ``val_loss`` and ``val_top1`` (no test numbers: the test split is scored once).
    ``classifier`` maps **raw** (unstandardised) features [N, D] to logits [N, C]: the
    standardisation is folded into its weights. Without a validation split, ``val_top1`` is None,
    ``best_epoch`` is the last epoch and the history has no val entries.
    """

    val_top1: float | None
    test_top1: float
    test_top5: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    classifier: nn.Linear | None = None

    def figures(self) -> dict[str, float | int | None]:
        """What ``summary.json`` reports: ``val_top1``, ``test_top1`` and ``best_epoch``."""
        return {
            "val_top1": self.val_top1,
            "test_top1": self.test_top1,
            "best_epoch": self.best_epoch,
        }


@dataclass
class LogisticProbeResult:
    """Outcome of :func:`logistic_regression_probe`. Accuracies in percent.

    ``history``: one dict per tried ``C`` with ``c``, ``val_top1`` and ``converged``.
    """

    val_top1: float
    test_top1: float
    test_top5: float
    best_c: float
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Splits:
    """Standardised float features and int64 labels of the three splits (``val`` may be None)."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor] | None
    test: tuple[torch.Tensor, torch.Tensor]
    mean: torch.Tensor  # [D]
    std: torch.Tensor  # [D]
    num_classes: int


def _prepare_splits(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor | None,
    val_labels: torch.Tensor | None,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int | None,
) -> _Splits:
    if (val_features is None) != (val_labels is None):
        raise ValueError("val_features and val_labels must both be given or both be None")
    splits = {
        "train": (train_features, train_labels),
        "val": (val_features, val_labels),
        "test": (test_features, test_labels),
    }
    if val_features is None:
        del splits["val"]
    for name, (features, labels) in splits.items():
        check_float_tensor(f"{name}_features", features, ndim=2)
        if not isinstance(labels, torch.Tensor) or labels.is_floating_point():
            raise ValueError(f"{name}_labels must be an integer tensor")
        if features.shape[1] != train_features.shape[1]:
            raise ValueError(
                f"{name}_features has dimension {features.shape[1]} but train_features has "
                f"{train_features.shape[1]}"
            )
    if num_classes is None:
        num_classes = 1 + max(int(labels.max()) for _, labels in splits.values() if labels.numel())
    num_classes = check_num_classes(num_classes)

    device = train_features.device
    dtype = torch.promote_types(train_features.dtype, torch.float32)
    train = train_features.to(dtype)
    mean = train.mean(dim=0)
    std = train.std(dim=0, unbiased=False)
    # A constant train dimension carries no information; dividing by ~0 would only amplify noise.
    std = torch.where(std > 1e-6 * std.max().clamp(min=1e-12), std, torch.ones_like(std))
    prepared = {}
    for name, (features, labels) in splits.items():
        labels = check_class_indices(f"{name}_labels", labels, features.shape[0], num_classes)
        standardised = (features.to(device, dtype) - mean) / std
        prepared[name] = (standardised, labels.to(device))
    return _Splits(
        train=prepared["train"],
        val=prepared.get("val"),
        test=prepared["test"],
        mean=mean,
        std=std,
        num_classes=num_classes,
    )


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor | None,
    val_labels: torch.Tensor | None,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int | None = None,
    epochs: int = 100,
    batch_size: int = 256,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> LinearProbeResult:
    """Fit a linear softmax classifier on frozen features with SGD; pick the epoch on val.

    Features: [N_split, D] float (any device; training runs there); labels: [N_split] int in
    ``[0, num_classes)`` (default: 1 + the largest label seen in any split). The weights start at
    zero and every epoch is one pass over shuffled mini-batches of ``batch_size``, minimising
    ``mean_i -log softmax(W z_i + b)[y_i]`` (``z`` standardised with train statistics) by SGD with
    ``momentum`` at a constant ``learning_rate``, with L2 penalty ``weight_decay`` (as SupContrast's
    ``main_linear.py``, whose lr 0.1 / momentum 0.9 suit standardised features). SGD rather than
    Adam: from a zero start SGD stays in the span of the training features, whereas Adam's
    per-coordinate steps move every weight at the same rate and generalise badly when N is small
    next to D (few-label budgets).

    After each epoch, val top-1 and val loss are measured; the best epoch maximises val top-1, ties
    going to the lower val loss, then to the earlier epoch. The test split is scored once, with
    that epoch's weights (top-1 and top-5, top-5 clamped to C). Deterministic for a given ``seed``
    on a given device (the mini-batch order comes from a seeded CPU generator).

    With no validation split (``val_features`` and ``val_labels`` None) nothing is chosen: the
    classifier after the last of the ``epochs`` is scored on test (a fixed schedule, like
    SupContrast's ``main_linear``, but scored once rather than reporting the best test epoch).
    """
    splits = _prepare_splits(
        train_features, train_labels, val_features, val_labels, test_features, test_labels,
        num_classes,
    )  # fmt: skip
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    check_positive("learning_rate", learning_rate)
    if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    check_non_negative("weight_decay", weight_decay)

    train_z, train_y = splits.train
    generator = torch.Generator().manual_seed(seed)
    classifier = nn.Linear(train_z.shape[1], splits.num_classes, device=train_z.device)
    classifier.to(train_z.dtype)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimizer = torch.optim.SGD(
        classifier.parameters(), lr=learning_rate, momentum=momentum, weight_decay=weight_decay
    )

    history: list[dict[str, float]] = []
    best_key: tuple[float, float] | None = None
    best_epoch = epochs  # kept when there is no validation split
    best_state: dict[str, torch.Tensor] = {}
    for epoch in range(1, epochs + 1):
        order = torch.randperm(train_z.shape[0], generator=generator).to(train_z.device)
        train_loss = _train_one_epoch(classifier, optimizer, train_z, train_y, order, batch_size)
        history.append({"epoch": epoch, "train_loss": train_loss})
        if splits.val is None:
            continue
        val_loss, val_top1 = _evaluate(classifier, *splits.val)
        history[-1].update(val_loss=val_loss, val_top1=val_top1)
        if best_key is None or (val_top1, -val_loss) > best_key:
            best_key, best_epoch = (val_top1, -val_loss), epoch
            best_state = {n: p.detach().clone() for n, p in classifier.state_dict().items()}
    if splits.val is not None:
        classifier.load_state_dict(best_state)
    test_z, test_y = splits.test
    with torch.no_grad():
        test_top1, test_top5 = topk_accuracy(classifier(test_z), test_y, ks=(1, 5))
    _fold_standardisation(classifier, splits.mean, splits.std)
    return LinearProbeResult(
        val_top1=history[best_epoch - 1].get("val_top1"),
        test_top1=test_top1,
        test_top5=test_top5,
        best_epoch=best_epoch,
        history=history,
        classifier=classifier,
    )


def _train_one_epoch(
    classifier: nn.Linear,
    optimizer: torch.optim.Optimizer,
    features: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
) -> float:
    """One pass over ``order`` in mini-batches; the mean mini-batch cross-entropy."""
    losses = []
    with torch.enable_grad():
        for start in range(0, features.shape[0], batch_size):
            index = order[start : start + batch_size]
            loss = F.cross_entropy(classifier(features[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
    return float(torch.stack(losses).mean())


@torch.no_grad()
def _evaluate(classifier: nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> tuple:
    """``(cross-entropy, top-1 %)`` on a held-out split."""
    logits = classifier(features)
    (top1,) = topk_accuracy(logits, labels, ks=(1,))
    return float(F.cross_entropy(logits, labels)), top1


@torch.no_grad()
def _fold_standardisation(classifier: nn.Linear, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make ``classifier`` take raw features: ``W (x - mean) / std + b = (W / std) x +
    (b - (W / std) mean)``; its weights are frozen afterwards."""
    weight = classifier.weight / std
    classifier.bias.copy_(classifier.bias - weight @ mean)
    classifier.weight.copy_(weight)
    classifier.requires_grad_(False)


def logistic_regression_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int | None = None,
    c_values: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0),
    max_iter: int = 1000,
    seed: int = 0,
) -> LogisticProbeResult:
    """Multinomial L2 logistic regression (scikit-learn, L-BFGS) on standardised features.

    Suited to small training sets (few-label evaluation), where the exact convex optimum is cheap.
    Minimises ``0.5 ||W||^2 + C * sum_i -log softmax(W z_i + b)[y_i]`` for each ``C`` in
    ``c_values``; the ``C`` with the best val top-1 (ties: the smaller ``C``, i.e. the stronger
    regularisation) is scored once on test. Shapes as :func:`linear_probe`; the train split must
    hold at least two classes. Classes absent from train get probability 0 (never predicted).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if val_features is None or val_labels is None:
        raise ValueError("logistic_regression_probe chooses C on validation: it needs a val split")
    splits = _prepare_splits(
        train_features, train_labels, val_features, val_labels, test_features, test_labels,
        num_classes,
    )  # fmt: skip
    c_values = sorted(c_values)
    if not c_values:
        raise ValueError("c_values must hold at least one value")
    for c in c_values:
        check_positive("each of c_values", c)
    assert splits.val is not None
    (train_z, train_y), (val_z, val_y), (test_z, test_y) = splits.train, splits.val, splits.test
    if train_y.unique().numel() < 2:
        raise ValueError("train_labels must contain at least two classes for logistic regression")
    x_train, y_train = train_z.cpu().numpy(), train_y.cpu().numpy()

    def probabilities(model: LogisticRegression, z: torch.Tensor) -> torch.Tensor:
        """[N, num_classes] probabilities; columns of classes unseen in train stay 0."""
        full = np.zeros((z.shape[0], splits.num_classes))
        full[:, model.classes_] = model.predict_proba(z.cpu().numpy())
        return torch.from_numpy(full)

    history: list[dict[str, Any]] = []
    best: tuple[float, LogisticRegression] | None = None
    for c in c_values:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
            model.fit(x_train, y_train)
        converged = True
        for caught_warning in caught:
            if issubclass(caught_warning.category, ConvergenceWarning):
                converged = False  # reported in the history instead of once per C
            else:
                warnings.warn(caught_warning.message, caught_warning.category, stacklevel=2)
        (val_top1,) = topk_accuracy(probabilities(model, val_z), val_y.cpu(), ks=(1,))
        history.append({"c": c, "val_top1": val_top1, "converged": converged})
        if best is None or val_top1 > best[0]:
            best = (val_top1, model)
    assert best is not None
    test_top1, test_top5 = topk_accuracy(probabilities(best[1], test_z), test_y.cpu(), ks=(1, 5))
    return LogisticProbeResult(
        val_top1=best[0],
        test_top1=test_top1,
        test_top5=test_top5,
        best_c=float(best[1].C),
        history=history,
    )


def probe_splits(
    probe: Callable[..., ProbeResult],
    features: Mapping[str, torch.Tensor],
    data: DataSplits,
    **options: Any,
) -> ProbeResult:
    """Fit ``probe`` (:func:`linear_probe` or :func:`logistic_regression_probe`) on the frozen
    ``features`` of ``data``'s splits (``{"train", "val", "test"}: [N_split, D]``, e.g. from
    :func:`~contrastlab.evaluation.features.encode_splits`) with the splits' labels:
    ``probe(features["train"], data.train.labels, features["val"], data.val.labels,
    features["test"], data.test.labels, num_classes=data.num_classes, **options)``.
    Without ``features["val"]`` the probe gets no validation split (``None, None``)."""
    has_val = "val" in features
    return probe(
        features["train"],
        data.train.labels,
        features["val"] if has_val else None,
        data.val.labels if has_val else None,
        features["test"],
        data.test.labels,
        num_classes=data.num_classes,
        **options,
    )
