"""The supervised cross-entropy baseline (SupContrast's main_ce): augment, classify, CE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab.methods.contract import StepOutput


class CrossEntropyMethod(nn.Module):
    """``loss = CE(model(augment(x)), y)``; logs the batch's top-1 accuracy (percent).

    Args:
        augment: batch augmentation ``[B, ...] -> [B, ...]`` (random on every call).
        label_smoothing: as :func:`torch.nn.functional.cross_entropy`'s.
        given_views: the batches hold one view per sample already, ``inputs [B, 1, ...]`` (e.g.
            a random resized crop cut by a DataLoader worker,
            :class:`~contrastlab.data.image_stream.RandomCropViews` with one view), and
            ``augment`` does the rest (``SupervisedImageAugment(..., crop=False)``); else
            ``inputs [B, ...]``.
    """

    def __init__(
        self, augment: nn.Module, label_smoothing: float = 0.0, given_views: bool = False
    ) -> None:
        super().__init__()
        self.augment = augment
        self.label_smoothing = label_smoothing
        self.given_views = given_views

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        if self.given_views:
            if inputs.dim() < 2 or inputs.shape[1] != 1:
                raise ValueError(
                    f"given_views: expected one view per sample [B, 1, ...], got shape "
                    f"{tuple(inputs.shape)}"
                )
            inputs = inputs.flatten(0, 1)  # [B, 1, ...] -> [B, ...]
        logits = model(self.augment(inputs))
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        top1 = (logits.detach().argmax(dim=1) == labels).float().mean() * 100
        return StepOutput(loss=loss, metrics={"train_top1": top1}, batch_size=labels.shape[0])
