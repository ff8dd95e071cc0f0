"""TS2Vec's SVM protocol on frozen features (Yue et al., AAAI 2022, and its code).

An RBF SVM (``gamma='scale'``: ``1 / (D Var[x])``) is fitted on the training features
``x [N, D]`` with class indices ``y [N]``:

- ``C`` is chosen by 5-fold stratified cross-validation over ``{1e-4, ..., 1e4, 1e8}`` when
  there are at least 50 training series and every class has at least 5 (:func:`searches_c`);
- otherwise ``C = 1e8``, a practically hard margin (TS2Vec uses ``C = inf`` there; its rule
  reads the *average* class size, this one the smallest, so that every fold holds every class).

The test features are then scored once. :func:`cross_validated_svm_accuracy` estimates the same
protocol's accuracy from the training features alone, for choices that must not see the test
split (such as how to pool the features).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e8)
HARD_MARGIN_C = 1e8
SMALL_TRAINING_SET = 50  # fewer training series: no C search, the hard margin


def _class_counts(labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels)
    return counts[counts > 0]


def searches_c(labels: torch.Tensor) -> bool:
    """Whether the protocol chooses ``C`` by cross-validation for training labels ``[N]``: at
    least 50 series and at least 5 in every class."""
    y = labels.numpy()
    return len(y) >= SMALL_TRAINING_SET and int(_class_counts(y).min()) >= 5


def _c_search(x: np.ndarray, y: np.ndarray, seed: int, refit: bool = True) -> Any:
    """The protocol's ``C`` search, fitted: 5 stratified folds shuffled by ``seed`` (``refit``:
    also fit the best ``C`` on all of ``x``, needed only to predict)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    search = GridSearchCV(SVC(gamma="scale"), {"C": list(SVM_C_GRID)}, cv=folds, refit=refit)
    return search.fit(x, y)


def _hard_margin(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.svm import SVC

    return SVC(C=HARD_MARGIN_C, gamma="scale").fit(x, y)


def svm_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    seed: int = 0,
) -> tuple[float, float]:
    """TS2Vec's protocol (module docstring): ``(test accuracy %, chosen C)``.

    ``train_features [N, D]``, ``train_labels [N]`` (class indices), ``test_*`` likewise; ``seed``
    shuffles the folds of the ``C`` search.
    """
    x_train, y_train = train_features.double().numpy(), train_labels.numpy()
    if len(_class_counts(y_train)) < 2:
        raise ValueError("the SVM needs at least two classes in the training split")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear/libsvm chatter about iteration limits
        if searches_c(train_labels):
            model = _c_search(x_train, y_train, seed).best_estimator_
        else:
            model = _hard_margin(x_train, y_train)
    predictions = model.predict(test_features.double().numpy())
    return 100.0 * float(np.mean(predictions == test_labels.numpy())), float(model.C)


def cross_validated_svm_accuracy(
    features: torch.Tensor, labels: torch.Tensor, seed: int = 0
) -> float:
    """The protocol's accuracy (%) estimated on the training set ``features [N, D]``, ``labels
    [N]`` alone, the way the protocol itself judges ``C``:

    - where it searches ``C`` (:func:`searches_c`): the best mean accuracy over the 5 held-out
      folds of that same search (the folds depend on ``seed`` and the labels only, so features
      compared with the same ``seed`` meet the same folds);
    - otherwise: leave-one-out with the hard margin, every series held out once. A held-out
      series whose remaining series hold a single class cannot be predicted and counts as a
      miss (a class of one series is always missed: it is in no training part).
    """
    x, y = features.double().numpy(), labels.numpy()
    if len(_class_counts(y)) < 2:
        raise ValueError(
            f"cross-validation needs series of at least two classes, got {len(y)} series of one"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if searches_c(labels):
            return 100.0 * float(_c_search(x, y, seed, refit=False).best_score_)
        correct = 0
        for held in range(len(y)):
            keep = np.arange(len(y)) != held
            if len(_class_counts(y[keep])) < 2:
                continue  # nothing to fit: a miss
            correct += int(_hard_margin(x[keep], y[keep]).predict(x[held : held + 1])[0] == y[held])
    return 100.0 * correct / len(y)
