"""Evaluation of representations: metrics, feature extraction, kNN monitor, linear probe and
few-label protocol. Figures live in :mod:`contrastlab.evaluation.plots` (imported on demand, since
it loads matplotlib)."""

from contrastlab.evaluation.features import encode_splits, extract_features
from contrastlab.evaluation.few_label import (
    run_few_label_protocol,
    sample_labeled_subset,
)
from contrastlab.evaluation.knn import knn_accuracy, knn_class_scores, knn_predict
from contrastlab.evaluation.linear_probe import (
    LinearProbeResult,
    LogisticProbeResult,
    linear_probe,
    logistic_regression_probe,
    probe_splits,
)
from contrastlab.evaluation.metrics import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    topk_accuracy,
)

__all__ = [
    "LinearProbeResult",
    "LogisticProbeResult",
    "accuracy",
    "balanced_accuracy",
    "confusion_matrix",
    "encode_splits",
    "extract_features",
    "knn_accuracy",
    "knn_class_scores",
    "knn_predict",
    "linear_probe",
    "logistic_regression_probe",
    "probe_splits",
    "run_few_label_protocol",
    "sample_labeled_subset",
    "topk_accuracy",
]
