"""Siamese training with the margin contrastive loss on real pairs (Hadsell, Chopra & LeCun 2006).

One shared network embeds every sample of the batch; pairs are then built from the batch labels,
balanced between the two kinds, with **Hadsell's convention y = 0 similar (same class), y = 1
dissimilar (different classes)**, and scored with the Euclidean distance
``D = ||f(x1) - f(x2)||_2``::

    L = mean_pairs [ (1 - y) * 1/2 * D^2 + y * 1/2 * max(0, m - D)^2 ]

(:func:`contrastlab.losses.contrastive.contrastive_loss`). Unlike the Keras sketch this corrects,
the two sides of a pair are *different* samples (real pairs) and ``D`` is a real distance, not the
difference vector of the two embeddings.

Pair construction (:func:`balanced_pairs`): every anchor ``i`` draws one random partner ``j != i``
of its own class and one random partner ``k`` of another class; anchors without such a partner in
the batch contribute no pair of that kind. The larger kind is then randomly subsampled to the size
of the smaller, so exactly half the pairs are similar and the loss cannot be won by one kind alone.
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import check_labels
from contrastlab.collectives import gather_no_grad, gather_with_grad
from contrastlab.distances.base import Distance
from contrastlab.losses.contrastive import ContrastiveLoss
from contrastlab.methods.contract import StepOutput

SIMILAR, DISSIMILAR = 0, 1


def _random_partner(
    candidates: torch.Tensor, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of the boolean ``candidates [N, N]``, one uniformly random ``True`` column.

    Returns ``(has_partner [N] bool, partner [N] int64)``; ``partner`` is meaningless where
    ``has_partner`` is False. Random keys on the allowed columns, arg-max per row: uniform.
    """
    device = generator.device if generator is not None else candidates.device
    keys = torch.rand(candidates.shape, generator=generator, device=device).to(candidates.device)
    keys = keys.masked_fill(~candidates, -1.0)
    return candidates.any(dim=1), keys.argmax(dim=1)


def balanced_pairs(
    labels: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Balanced similar / dissimilar pairs of a labelled batch.

    Args:
        labels: ``[N]`` integer class labels.
        generator: random source (on its own device); ``None`` uses the global generator.

    Returns:
        ``(first [2P], second [2P], y [2P])``: int64 sample indices of the two sides of every pair
        and the pair label, **0 = similar (same class), 1 = dissimilar**. The first ``P`` pairs are
        similar, the last ``P`` dissimilar; ``first[p] != second[p]`` always. ``P`` is the smaller
        of (anchors with a same-class partner, anchors with an other-class partner); ``P = 0``
        (empty tensors) when the batch has a single class or only singleton classes.
    """
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    labels = check_labels("labels", labels, labels.numel())
    count = labels.numel()
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(count, dtype=torch.bool, device=labels.device)
    has_positive, positive = _random_partner(same & ~eye, generator)
    has_negative, negative = _random_partner(~same, generator)
    similar_anchors = has_positive.nonzero().flatten()
    dissimilar_anchors = has_negative.nonzero().flatten()
    n_pairs = min(similar_anchors.numel(), dissimilar_anchors.numel())

    def keep(anchors: torch.Tensor) -> torch.Tensor:
        device = generator.device if generator is not None else anchors.device
        order = torch.randperm(anchors.numel(), generator=generator, device=device)
        return anchors[order[:n_pairs].to(anchors.device)].sort().values

    similar_anchors, dissimilar_anchors = keep(similar_anchors), keep(dissimilar_anchors)
    first = torch.cat([similar_anchors, dissimilar_anchors])
    second = torch.cat([positive[similar_anchors], negative[dissimilar_anchors]])
    y = torch.cat(
        [
            torch.full((n_pairs,), SIMILAR, dtype=torch.long, device=labels.device),
            torch.full((n_pairs,), DISSIMILAR, dtype=torch.long, device=labels.device),
        ]
    )
    return first, second, y


class SiameseMethod(nn.Module):
    """Margin contrastive loss on balanced real pairs of the batch (see the module docstring).

    ``forward(model, inputs [B, ...], labels [B])``: ``model`` maps a batch to embeddings
    ``[B, D]`` (one shared network: the two branches of a Siamese pair are the same weights);
    ``augment`` (optional) is applied once to the batch first. Under DDP the embeddings and labels
    of every process are gathered, so pairs may cross processes.

    Logged: ``similar_distance`` / ``dissimilar_distance`` (mean ``D`` of each kind), ``pairs``
    (``2P``) and ``pair_accuracy`` (percent of pairs on the right side of ``m / 2``).
    """

    def __init__(
        self,
        augment: nn.Module | None = None,
        margin: float = 1.0,
        distance: Distance | None = None,
    ) -> None:
        super().__init__()
        self.augment = augment
        # Hadsell's convention, y = 0 similar: the loss module checks margin and distance.
        self.criterion = ContrastiveLoss(margin=margin, distance=distance, similar_label=SIMILAR)

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        batch = self.augment(inputs) if self.augment is not None else inputs
        embeddings = model(batch)
        if embeddings.dim() != 2 or embeddings.shape[0] != inputs.shape[0]:
            raise ValueError(
                f"the model must map [B, ...] to embeddings [B, D], got {tuple(embeddings.shape)}"
            )
        embeddings = gather_with_grad(embeddings)
        all_labels = gather_no_grad(labels)
        first, second, y = balanced_pairs(all_labels)
        if y.numel() == 0:
            raise ValueError(
                "the batch holds no similar/dissimilar pair (a single class, or only singleton "
                "classes): use a larger --batch_size"
            )
        x1, x2 = embeddings[first].float(), embeddings[second].float()
        loss = self.criterion(x1, x2, y)
        with torch.no_grad():
            distances = self.criterion.distance.paired(x1, x2)
            similar = y == SIMILAR
            half_margin = self.criterion.margin / 2
            correct = torch.where(similar, distances < half_margin, distances >= half_margin)
            metrics = {
                "similar_distance": distances[similar].mean(),
                "dissimilar_distance": distances[~similar].mean(),
                "pairs": float(y.numel()),
                "pair_accuracy": correct.float().mean() * 100,
            }
        return StepOutput(loss=loss, metrics=metrics, batch_size=inputs.shape[0])
