"""``contrastlab knn``: weighted kNN accuracy (cosine, k = ``--knn_k``) of a pretraining
checkpoint's frozen features, on its own data split. Prints the figures; writes nothing."""

from __future__ import annotations

from contrastlab.config.image import KNNConfig
from contrastlab.evaluation.checkpoint_evaluation import knn_evaluation


def knn_eval(config: KNNConfig) -> dict[str, float]:
    """``{"knn_val_top1", "knn_test_top1"}`` (val only when the split is not empty), percent."""
    return {f"knn_{split}_top1": value for split, value in knn_evaluation(config).items()}
