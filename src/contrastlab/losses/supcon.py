"""Supervised Contrastive loss (Khosla et al., NeurIPS 2020), API-compatible with SupContrast.

For anchors i in A, contrast set C (all views of all samples), positives P(i) (same label or
``mask[i, j] > 0``, never i itself) and similarities s_ij = z_i . z_j / T::

    L = mean_{i in A, |P(i)| > 0}  -(T / T_base) * [ sum_{p in P(i)} w_ip s_ip / sum_p w_ip
                                                    - log sum_{a in C, a != i} exp(s_ia) ]

(``w`` is the mask value, 1 for labels). This equals the reference's
``-(T / T_base) * mean_{p} log softmax`` wherever the reference is defined. Differences, on purpose:

* Anchors with no positive are left out of the mean (the reference divides 0 by 0 and returns NaN);
  a batch with no positive at all gives a zero loss with zero gradient.
* The positive term is linear in the similarities, so it is computed from per-class (labels) or
  per-sample (mask) sums of features in O(N D); only the log-sum-exp touches the [N, N] matrix,
  through :func:`contrast_logsumexp` (exact max-subtraction, float32 inside, dense or blocked).
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import (
    check_choice,
    check_float_tensor,
    check_labels,
    check_positive,
    reduce_loss,
)
from contrastlab.losses._logsumexp import MEMORY_MODES, compute_dtype, contrast_logsumexp

CONTRAST_MODES = ("all", "one")


def _flatten_views(features: torch.Tensor) -> torch.Tensor:
    """[bsz, n_views, ...] -> [bsz, n_views, D] in the compute dtype."""
    check_float_tensor("features", features)
    if features.dim() < 3:
        raise ValueError(
            "features must be [bsz, n_views, ...] with at least 3 dimensions, "
            f"got shape {tuple(features.shape)}"
        )
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    return flat.to(compute_dtype(flat))


def _check_mask(mask: object, batch_size: int) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != (batch_size, batch_size):
        raise ValueError(
            f"mask must be [bsz, bsz] = [{batch_size}, {batch_size}], got {tuple(mask.shape)}"
        )
    if mask.is_complex():
        raise ValueError(f"mask must be real, got {mask.dtype}")
    mask = mask.to(torch.float64 if mask.dtype == torch.float64 else torch.float32)
    if not torch.isfinite(mask).all() or bool((mask < 0).any()):
        raise ValueError("mask entries must be finite and >= 0")
    return mask


def supcon_loss(
    features: torch.Tensor,
    labels: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    temperature: float = 0.07,
    contrast_mode: str = "all",
    base_temperature: float = 0.07,
    reduction: str = "mean",
    memory: str = "auto",
) -> torch.Tensor:
    """Supervised contrastive loss; SimCLR's loss when neither labels nor mask is given.

    Args:
        features: [bsz, n_views, ...] embeddings (extra dims are flattened; L2-normalise them
            first, as SupContrast does). Any floating dtype; computed in float32 (or float64).
        labels: [bsz] integer class labels. Samples with equal labels are positives.
        mask: [bsz, bsz] non-negative weights, mask[i, j] > 0 when j is a positive of i (may be
            asymmetric). The diagonal decides whether other views of the same sample count.
        temperature: T in s_ij = z_i . z_j / T.
        contrast_mode: 'all' (every view is an anchor) or 'one' (view 0 only).
        base_temperature: T_base; the loss is scaled by T / T_base.
        reduction: 'mean' over anchors that have a positive, 'sum', or 'none' ([n_anchors] in the
            reference's view-major order, 0 for anchors without positive).
        memory: 'auto', 'dense' or 'blocked' (see :func:`contrast_logsumexp`).

    Returns:
        The loss (a scalar, or [n_anchors] for ``reduction='none'``), in the compute dtype.
    """
    if labels is not None and mask is not None:
        raise ValueError("give labels or mask, not both")
    check_positive("temperature", temperature)
    check_positive("base_temperature", base_temperature)
    check_choice("contrast_mode", contrast_mode, CONTRAST_MODES)
    check_choice("memory", memory, MEMORY_MODES)
    flat = _flatten_views(features)
    batch_size, n_views, _ = flat.shape
    device = flat.device
    if labels is not None:
        labels = check_labels("labels", labels, batch_size).to(device)
    if mask is not None:
        mask = _check_mask(mask, batch_size).to(device=device, dtype=flat.dtype)

    with torch.autocast(device_type=device.type, enabled=False):
        # View-major order, as in the reference: row v * bsz + b is view v of sample b.
        contrast = flat.transpose(0, 1).reshape(n_views * batch_size, -1)
        anchor_views = n_views if contrast_mode == "all" else 1
        anchors = contrast[: anchor_views * batch_size]
        anchor_samples = torch.arange(batch_size, device=device).repeat(anchor_views)
        scaled_anchors = anchors / temperature
        self_index = torch.arange(anchors.shape[0], device=device)
        lse, _ = contrast_logsumexp(
            scaled_anchors,
            contrast,
            self_index,
            memory=memory,
            with_row_max=False,
            symmetric=contrast_mode == "all" and contrast.shape[0] > 1,
        )

        view_sums = flat.sum(dim=1)  # [bsz, D]
        self_similarity = (scaled_anchors * anchors).sum(dim=1)
        if mask is None:
            sample_class = (
                torch.arange(batch_size, device=device)
                if labels is None
                else torch.unique(labels, return_inverse=True)[1]
            )
            n_classes = int(sample_class.max()) + 1
            class_sums = flat.new_zeros(n_classes, flat.shape[2])
            class_sums.index_add_(0, sample_class, view_sums)
            class_sizes = torch.bincount(sample_class, minlength=n_classes).to(flat.dtype) * n_views
            anchor_class = sample_class[anchor_samples]
            positive_sum = (scaled_anchors * class_sums[anchor_class]).sum(dim=1) - self_similarity
            positive_weight = class_sizes[anchor_class] - 1
            has_positive = positive_weight > 0
        else:
            weighted_sums = mask @ view_sums  # [bsz, D]: sum_j mask[i, j] * sum_v z_{v, j}
            self_weight = mask.diagonal()[anchor_samples]
            positive_sum = (scaled_anchors * weighted_sums[anchor_samples]).sum(
                dim=1
            ) - self_weight * self_similarity
            positive_weight = n_views * mask.sum(dim=1)[anchor_samples] - self_weight
            # Decided on counts, not on the weight sum: the loss is invariant to the mask's scale.
            positive_count = n_views * (mask > 0).sum(dim=1) - (mask.diagonal() > 0).long()
            has_positive = (positive_count[anchor_samples] > 0) & (positive_weight > 0)

        has_positive = has_positive & torch.isfinite(lse)
        safe_weight = torch.where(has_positive, positive_weight, torch.ones_like(positive_weight))
        mean_log_prob_positive = positive_sum / safe_weight - lse
        per_anchor = -(temperature / base_temperature) * mean_log_prob_positive
        return reduce_loss(per_anchor, reduction, has_positive)


class SupConLoss(nn.Module):
    """Module form of :func:`supcon_loss`, with the SupContrast constructor and call signature.

    ``SupConLoss(temperature=0.07, contrast_mode='all', base_temperature=0.07)`` called as
    ``loss(features, labels=None, mask=None)`` with features [bsz, n_views, ...].
    """

    def __init__(
        self,
        temperature: float = 0.07,
        contrast_mode: str = "all",
        base_temperature: float = 0.07,
        reduction: str = "mean",
        memory: str = "auto",
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_positive("base_temperature", base_temperature)
        check_choice("contrast_mode", contrast_mode, CONTRAST_MODES)
        check_choice("memory", memory, MEMORY_MODES)
        self.temperature = temperature
        self.contrast_mode = contrast_mode
        self.base_temperature = base_temperature
        self.reduction = reduction
        self.memory = memory

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return supcon_loss(
            features,
            labels=labels,
            mask=mask,
            temperature=self.temperature,
            contrast_mode=self.contrast_mode,
            base_temperature=self.base_temperature,
            reduction=self.reduction,
            memory=self.memory,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, contrast_mode={self.contrast_mode!r}, "
            f"base_temperature={self.base_temperature}, memory={self.memory!r}"
        )
