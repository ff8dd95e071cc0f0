"""Contrastive Predictive Coding as a training method (van den Oord, Li & Vinyals 2018).

The model maps a batch ``x [B, C, L]`` to latents and contexts ``(z [B, T, D], c [B, T, H])`` and
holds its :class:`~contrastlab.losses.cpc.CPCLoss` (the predictors ``W_k``) as ``model.criterion``
(:class:`contrastlab.models.cpc.CPC` does). For each step ``k = 1..K`` and anchor ``(b, t)``::

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


def find_cpc_criterion(model: nn.Module) -> CPCLoss:
    """The :class:`CPCLoss` held by ``model`` (through a DDP / DataParallel ``module`` wrapper)."""
    inner = model.module if hasattr(model, "module") else model
    criterion = getattr(inner, "criterion", None)
    if not isinstance(criterion, CPCLoss):
        raise ValueError(
            f"the CPC method needs a model holding its CPCLoss as .criterion "
            f"(e.g. contrastlab.models.CPC); {type(inner).__name__} has none"
        )
    return criterion


class CPCMethod(nn.Module):
    """``loss = CPC InfoNCE of model(augment(x))`` (see the module docstring).

    Args:
        augment: optional batch augmentation ``[B, C, L] -> [B, C, L']`` applied before the model
            (CPC needs none: the future of the signal is its own target).
    """

    def __init__(self, augment: nn.Module | None = None) -> None:
        super().__init__()
        self.augment = augment

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        criterion = find_cpc_criterion(model)
        batch = self.augment(inputs) if self.augment is not None else inputs
        output = model(batch)
        if not (isinstance(output, tuple) and len(output) == 2):
            raise ValueError("a CPC model must return (z [B, T, D], context [B, T, H])")
        z, context = output
        loss, accuracy = criterion(z, context)
        metrics: dict[str, float | torch.Tensor] = {"cpc_top1": accuracy.mean() * 100}
        for step, value in enumerate(accuracy, start=1):
            metrics[f"cpc_top1_step{step}"] = value * 100
        return StepOutput(loss=loss, metrics=metrics, batch_size=inputs.shape[0])
