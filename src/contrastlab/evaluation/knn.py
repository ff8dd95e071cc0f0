"""Weighted k-nearest-neighbour monitor (Wu et al. 2018, InstDisc; used by SimCLR/MoCo code bases).

For a test feature ``q`` and L2-normalised train features ``x_i`` with labels ``y_i``:
``s_i = cos(q, x_i)``; over the ``k`` most similar ``i``, class ``c`` scores
``sum_i exp(s_i / temperature) * [y_i = c]``; the prediction is the highest-scoring class (the
lowest class index on an exact tie).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastlab._checks import check_float_tensor, check_int, check_positive
from contrastlab.evaluation.metrics import accuracy, check_class_indices, check_num_classes


def knn_class_scores(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Class scores [M, C] of the weighted kNN vote (see the module docstring).

    ``train_features``: [N, D]; ``train_labels``: [N] in [0, num_classes);
    ``test_features``: [M, D].
    ``k > N`` is clamped to ``N``. Test rows are processed ``chunk_size`` at a time, so memory is
    O(chunk_size * N) rather than O(M * N). Computed in float32 at least (``exp(1 / 0.1)`` summed
    over 200 neighbours overflows float16), on the device of ``train_features``.
    """
    check_float_tensor("train_features", train_features, ndim=2)
    check_float_tensor("test_features", test_features, ndim=2)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train_features [N, D] and test_features [M, D] must share D, got "
            f"{tuple(train_features.shape)} and {tuple(test_features.shape)}"
        )
    num_classes = check_num_classes(num_classes)
    train_labels = check_class_indices(
        "train_labels", train_labels, train_features.shape[0], num_classes
    )
    check_int("k", k)
    check_positive("temperature", temperature)
    check_int("chunk_size", chunk_size)

    dtype = torch.promote_types(train_features.dtype, torch.float32)
    device = train_features.device
    train = F.normalize(train_features.to(dtype), dim=1)  # [N, D]
    labels = train_labels.to(device)
    k = min(k, train.shape[0])
    scores = []
    for start in range(0, test_features.shape[0], chunk_size):
        query = F.normalize(test_features[start : start + chunk_size].to(device, dtype), dim=1)
        similarity = query @ train.T  # [B, N]
        top_similarity, top_index = similarity.topk(k, dim=1)  # [B, k]
        weights = (top_similarity / temperature).exp()  # [B, k]
        votes = torch.zeros(query.shape[0], num_classes, device=device, dtype=dtype)
        scores.append(votes.scatter_add_(1, labels[top_index], weights))  # [B, C]
    return torch.cat(scores)


def knn_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Predicted labels [M] (int64) of the weighted kNN vote.

    Arguments as :func:`knn_class_scores`; ties between classes go to the lowest class index.
    """
    scores = knn_class_scores(
        train_features, train_labels, test_features, num_classes, k, temperature, chunk_size
    )
    return scores.argmax(dim=1)


def knn_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> float:
    """Top-1 accuracy (percent) of :func:`knn_predict` against ``test_labels`` ([M])."""
    predictions = knn_predict(
        train_features, train_labels, test_features, num_classes, k, temperature, chunk_size
    )
    check_class_indices("test_labels", test_labels, predictions.numel(), num_classes)
    return accuracy(predictions, test_labels)
