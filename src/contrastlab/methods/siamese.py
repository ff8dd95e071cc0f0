"""Siamese training with the margin contrastive loss on real pairs (Hadsell, Chopra & LeCun 2006).

One shared network embeds every sample of the batch; pairs are then built from the batch labels
with **Hadsell's convention y = 0 similar (same class), y = 1 dissimilar (different classes)** and
scored with the Euclidean distance ``D = ||f(x1) - f(x2)||_2``:
``l(y, D) = (1 - y) * 1/2 * D^2 + y * 1/2 * max(0, m - D)^2``
(:func:`contrastlab.losses.contrastive.contrastive_loss`). The two sides of a pair are different
samples (real pairs) and ``D`` is a real distance.

Pairs (:func:`random_partners`): every anchor ``i`` draws one random partner ``p_i != i`` of its
own class and one random partner ``n_i`` of another class; an anchor without such a partner in
the batch contributes no pair of that kind. The two kinds weigh the same, so the loss cannot be
won by one kind alone::

    L = 1/2 mean_{i with p_i} l(0, D(i, p_i)) + 1/2 mean_{i with n_i} l(1, D(i, n_i))

Every anchor is used (no subsampling), and the shapes do not depend on the labels, so a step
never waits for the device.
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import check_labels
from contrastlab._device_checks import require
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


def random_partners(
    labels: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One random same-class and one random other-class partner of every sample of a batch.

    Args:
        labels: ``[N]`` integer class labels.
        generator: random source (on its own device); ``None`` uses the global generator.

    Returns:
        ``(positive [N], has_positive [N], negative [N], has_negative [N])``: int64 partner
        indices (``positive[i] != i``, same label; ``negative[i]``, another label), each
        meaningful only where its ``has_*`` flag (bool) is True. No value is read on the host.
    """
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    labels = check_labels("labels", labels, labels.numel())
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
    has_positive, positive = _random_partner(same & ~eye, generator)
    has_negative, negative = _random_partner(~same, generator)
    return positive, has_positive, negative, has_negative


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp(min=1)


class SiameseMethod(nn.Module):
    """Margin contrastive loss on balanced real pairs of the batch (see the module docstring).

    ``forward(model, inputs [B, ...], labels [B])``: ``model`` maps a batch to embeddings
    ``[B, D]`` (one shared network: the two branches of a Siamese pair are the same weights);
    ``augment`` (optional) is applied once to the batch first. Under DDP the embeddings and labels
    of every process are gathered, so pairs may cross processes.

    Logged: ``similar_distance`` / ``dissimilar_distance`` (mean ``D`` of each kind), ``pairs``
    (the pairs of both kinds) and ``pair_accuracy`` (percent of pairs on the right side of
    ``m / 2``).
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
        self.criterion = ContrastiveLoss(
            margin=margin, distance=distance, similar_label=SIMILAR, reduction="none"
        )

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        batch = self.augment(inputs) if self.augment is not None else inputs
        embeddings = model(batch)
        if embeddings.dim() != 2 or embeddings.shape[0] != inputs.shape[0]:
            raise ValueError(
                f"the model must map [B, ...] to embeddings [B, D], got {tuple(embeddings.shape)}"
            )
        embeddings = gather_with_grad(embeddings).float()
        positive, has_positive, negative, has_negative = random_partners(gather_no_grad(labels))
        require(
            has_positive.any() & has_negative.any(),
            "the batch holds no similar/dissimilar pair (a single class, or only singleton "
            "classes): use a larger --batch_size",
        )
        ones = torch.ones_like(positive)
        similar = self.criterion(embeddings, embeddings[positive], SIMILAR * ones)
        dissimilar = self.criterion(embeddings, embeddings[negative], DISSIMILAR * ones)
        loss = 0.5 * (_masked_mean(similar, has_positive) + _masked_mean(dissimilar, has_negative))
        with torch.no_grad():
            distance = self.criterion.distance.paired
            similar_d = distance(embeddings, embeddings[positive])
            dissimilar_d = distance(embeddings, embeddings[negative])
            half_margin = self.criterion.margin / 2
            right = ((similar_d < half_margin) & has_positive).sum() + (
                (dissimilar_d >= half_margin) & has_negative
            ).sum()
            pairs = has_positive.sum() + has_negative.sum()
            metrics = {
                "similar_distance": _masked_mean(similar_d, has_positive),
                "dissimilar_distance": _masked_mean(dissimilar_d, has_negative),
                "pairs": pairs.float(),
                "pair_accuracy": right.float() / pairs.clamp(min=1).float() * 100,
            }
        return StepOutput(loss=loss, metrics=metrics, batch_size=inputs.shape[0])
