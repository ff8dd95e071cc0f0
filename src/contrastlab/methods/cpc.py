"""Contrastive Predictive Coding as a training method (van den Oord, Li & Vinyals 2018).

The model maps a batch ``x [B, C, L]`` to latents and contexts ``(z [B, T, D], c [B, T, H])``
(:class:`contrastlab.models.cpc.CPC` does); the method holds the
:class:`~contrastlab.losses.cpc.CPCLoss` with the predictors ``W_k`` (trained with the model,
saved with the method's state). For each step ``k = 1..K`` and anchor ``(b, t)``::

    L_k = mean_{b,t} -log( exp(z_{b,t+k}^T W_k c_{b,t}) /
                           (exp(z_{b,t+k}^T W_k c_{b,t}) + sum_n exp(z_n^T W_k c_{b,t})) ),
    L = (1/K) sum_k L_k,

with ``N`` negatives ``z_n`` drawn at random from the other times and sequences of the batch
(:func:`contrastlab.losses.cpc.cpc_loss`). Labels are ignored: CPC is self-supervised.

Logged: ``cpc_top1`` and ``cpc_top1_step{k}``, the percentage of anchors whose true future latent
scores above every negative (chance is ``100 / (N + 1)``). Under DDP the negatives come from the
process's own batch.
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab.losses.cpc import CPCLoss
from contrastlab.methods.contract import StepOutput


class CPCMethod(nn.Module):
    """``loss = CPC InfoNCE of model(augment(x))`` (see the module docstring).

    Args:
        latent_dim: ``D`` of the model's latents ``z``.
        context_dim: ``H`` of the model's contexts ``c``.
        prediction_steps: ``K``; the model must give ``T > K`` latent steps.
        n_negatives: negatives per prediction, drawn from the batch's other latents.
        max_anchors: at most this many anchors ``(b, t)`` per step (None: all).
        augment: optional batch augmentation ``[B, C, L] -> [B, C, L']`` applied before the model
            (CPC needs none: the future of the signal is its own target).
    """

    def __init__(
        self,
        latent_dim: int,
        context_dim: int,
        prediction_steps: int = 8,
        n_negatives: int = 16,
        max_anchors: int | None = 4096,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.criterion = CPCLoss(
            context_dim, latent_dim, prediction_steps, n_negatives, max_anchors
        )
        self.augment = augment

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        batch = self.augment(inputs) if self.augment is not None else inputs
        output = model(batch)
        if not (isinstance(output, tuple) and len(output) == 2):
            raise ValueError("a CPC model must return (z [B, T, D], context [B, T, H])")
        z, context = output
        loss, accuracy = self.criterion(z, context)
        metrics: dict[str, float | torch.Tensor] = {"cpc_top1": accuracy.mean() * 100}
        for step, value in enumerate(accuracy, start=1):
            metrics[f"cpc_top1_step{step}"] = value * 100
        return StepOutput(loss=loss, metrics=metrics, batch_size=inputs.shape[0])
