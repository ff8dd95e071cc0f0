"""SupCon and SimCLR pretraining: V augmented views per sample, one SupCon / NT-Xent loss.

Under DDP the projections and labels of every process are gathered (with gradients) before the
loss, so each anchor is contrasted with the whole global batch, not just its own process's share.
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import check_choice
from contrastlab.collectives import gather_no_grad, gather_with_grad
from contrastlab.data.views import view_maker
from contrastlab.losses.supcon import supcon_loss
from contrastlab.methods.contract import StepOutput

VIEW_METHODS = ("supcon", "simclr")


class ContrastiveViewsMethod(nn.Module):
    """``supcon``: positives share a label; ``simclr``: positives are views of the same sample.

    Args:
        augment: batch augmentation [B, ...] -> [B, ...] (random on every call).
        method: 'supcon' or 'simclr'.
        temperature: the loss temperature (``--temp``).
        base_temperature: the loss is scaled by temperature / base_temperature; SupContrast's
            main_supcon keeps 0.07 for both methods, and so do we, so its learning rates carry
            over (NT-Xent proper would use base_temperature = temperature).
        n_views: views per sample.
        memory: the loss's memory mode ('auto', 'dense', 'blocked').
        given_views: the batches hold their views already, ``inputs [B, n_views, ...]`` (e.g.
            crops cut by DataLoader workers, :mod:`contrastlab.data.image_stream`), and
            ``augment`` is applied to each (:class:`~contrastlab.data.views.GivenViews`); else
            ``inputs [B, ...]`` and the views are ``n_views`` draws of ``augment``.
    """

    def __init__(
        self,
        augment: nn.Module,
        method: str = "supcon",
        temperature: float = 0.07,
        n_views: int = 2,
        base_temperature: float | None = None,
        memory: str = "auto",
        given_views: bool = False,
    ) -> None:
        super().__init__()
        check_choice("method", method, VIEW_METHODS)
        self.views = view_maker(augment, n_views, given_views)
        self.method = method
        self.temperature = temperature
        self.base_temperature = 0.07 if base_temperature is None else base_temperature
        self.memory = memory

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        views = self.views(inputs)  # [B, V, ...]
        batch_size, n_views = views.shape[:2]
        projections = model(views.flatten(0, 1)).view(batch_size, n_views, -1)
        projections = gather_with_grad(projections)
        loss = supcon_loss(
            projections,
            labels=gather_no_grad(labels) if self.method == "supcon" else None,
            temperature=self.temperature,
            base_temperature=self.base_temperature,
            memory=self.memory,
        )
        return StepOutput(loss=loss, batch_size=batch_size)
