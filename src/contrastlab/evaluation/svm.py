"""TS2Vec's SVM protocol on frozen features (Yue et al., AAAI 2022, and its code).

An RBF SVM (``gamma='scale'``: ``1 / (D Var[x])``) is fitted on the training features:

- ``C`` is chosen by 5-fold stratified cross-validation over ``{1e-4, ..., 1e4, 1e8}`` when
  there are at least 50 training series and every class has at least 5;
- otherwise ``C = 1e8``, a practically hard margin (TS2Vec uses ``C = inf`` there; its rule
  reads the *average* class size, this one the smallest, so that every fold holds every class).

The test features are then scored once. :func:`cross_validated_svm_accuracy` scores the same
protocol on the training features alone (for choices that must not see the test split).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e8)
HARD_MARGIN_C = 1e8
# Below this many training series the C search is skipped, and selection (see
# cross_validated_svm_accuracy) leaves one series out at a time instead of using 5 folds.
SMALL_TRAINING_SET = 50


def _class_counts(labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels)
    return counts[counts > 0]


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
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    x_train, y_train = train_features.double().numpy(), train_labels.numpy()
    counts = _class_counts(y_train)
    if len(counts) < 2:
        raise ValueError("the SVM needs at least two classes in the training split")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear/libsvm chatter about iteration limits
        if counts.min() < 5 or len(y_train) < SMALL_TRAINING_SET:
            model = SVC(C=HARD_MARGIN_C, gamma="scale").fit(x_train, y_train)
        else:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            search = GridSearchCV(SVC(gamma="scale"), {"C": list(SVM_C_GRID)}, cv=folds)
            model = search.fit(x_train, y_train).best_estimator_
    predictions = model.predict(test_features.double().numpy())
    return 100.0 * float(np.mean(predictions == test_labels.numpy())), float(model.C)


def cross_validated_svm_accuracy(
    features: torch.Tensor, labels: torch.Tensor, seed: int = 0, repeats: int = 2
) -> float:
    """Accuracy (%) of :func:`svm_accuracy` on held-out parts of the training set alone.

    Fewer than 50 series (or a class of one): leave-one-out, every series held out once.
    Otherwise ``repeats`` rounds of stratified k-fold (``k = min(5, smallest class)``, shuffled
    by ``seed``). Each fold's training part goes through the whole protocol of
    :func:`svm_accuracy` (a ``C`` search, or the hard margin when that part is small), so the
    estimate includes the choice of ``C``. Every held-out prediction counts once per round: the
    result is ``100 * correct / predictions``.
    """
    from sklearn.model_selection import LeaveOneOut, RepeatedStratifiedKFold

    y = labels.numpy()
    counts = _class_counts(y)
    if len(counts) < 2 or len(y) < 3:
        raise ValueError(
            f"cross-validation needs at least 3 series of at least two classes, got {len(y)} "
            f"series of {len(counts)} class(es)"
        )
    folds = min(5, int(counts.min()))
    if len(y) < SMALL_TRAINING_SET or folds < 2:
        splits = LeaveOneOut().split(y)
    else:
        splits = RepeatedStratifiedKFold(
            n_splits=folds, n_repeats=repeats, random_state=seed
        ).split(np.zeros(len(y)), y)
    correct = predictions = 0
    for train_index, held_out in splits:
        train_part, held = torch.as_tensor(train_index), torch.as_tensor(held_out)
        if len(np.unique(y[train_index])) < 2:
            raise ValueError("a cross-validation fold was left with one class: too few series")
        accuracy, _ = svm_accuracy(
            features[train_part], labels[train_part], features[held], labels[held], seed
        )
        correct += round(accuracy * len(held) / 100.0)
        predictions += len(held)
    return 100.0 * correct / predictions
