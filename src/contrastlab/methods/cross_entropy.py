"""The supervised cross-entropy baseline (SupContrast's main_ce): augment, classify, CE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab.methods.contract import StepOutput


class CrossEntropyMethod(nn.Module):
    """``loss = CE(model(augment(x)), y)``; logs the batch's top-1 accuracy (percent)."""

    def __init__(self, augment: nn.Module, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.augment = augment
        self.label_smoothing = label_smoothing

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        logits = model(self.augment(inputs))
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        top1 = (logits.detach().argmax(dim=1) == labels).float().mean() * 100
        return StepOutput(loss=loss, metrics={"train_top1": top1}, batch_size=labels.shape[0])
