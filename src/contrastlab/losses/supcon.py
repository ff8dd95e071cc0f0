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
    check_finite,
    check_float_tensor,
    check_labels,
    check_temperature,
    reduce_loss,
)
from contrastlab.collectives import gather_no_grad, gather_with_grad
from contrastlab.losses._logsumexp import (
    DIAGONAL,
    MEMORY_MODES,
    compute_dtype,
    contrast_logsumexp,
)

CONTRAST_MODES = ("all", "one")


def _flatten_views(features: torch.Tensor, validate: bool) -> torch.Tensor:
    """[bsz, n_views, ...] -> [bsz, n_views, D] in the compute dtype."""
    check_float_tensor("features", features, values=validate)
    if features.dim() < 3:
        raise ValueError(
            "features must be [bsz, n_views, ...] with at least 3 dimensions, "
            f"got shape {tuple(features.shape)}"
        )
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    return flat.to(compute_dtype(flat))


def _check_mask(mask: object, batch_size: int, validate: bool) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != (batch_size, batch_size):
        raise ValueError(
            f"mask must be [bsz, bsz] = [{batch_size}, {batch_size}], got {tuple(mask.shape)}"
        )
    if mask.is_complex():
        raise ValueError(f"mask must be real, got {mask.dtype}")
    mask = mask.to(torch.float64 if mask.dtype == torch.float64 else torch.float32)
    if validate:
        check_finite("mask", mask)
        if bool((mask < 0).any()):
            raise ValueError("mask entries must be finite and >= 0")
    return mask


def _same_label_sums(
    labels: torch.Tensor, view_sums: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sums [bsz, D], sizes [bsz])``: for each sample, the sum of ``view_sums`` over the
    samples that share its label, and how many they are. Sorting gives every label the position of
    its first occurrence as an index (``searchsorted``), so no host read is needed (``unique``
    would read how many labels there are)."""
    if labels.dtype == torch.bool:  # searchsorted has no bool kernel
        labels = labels.long()
    sorted_labels = labels.sort().values
    first = torch.searchsorted(sorted_labels, labels)
    sizes = torch.searchsorted(sorted_labels, labels, right=True) - first
    sums = torch.zeros_like(view_sums).index_add_(0, first, view_sums)
    return sums[first], sizes


def supcon_loss(
    features: torch.Tensor,
    labels: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    temperature: float = 0.07,
    contrast_mode: str = "all",
    base_temperature: float = 0.07,
    reduction: str = "mean",
    memory: str = "auto",
    validate: bool = False,
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
        validate: also check the values: finite features, a finite non-negative mask. These
            checks read from the device (a host synchronisation on accelerators), so they are off
            by default; types, dtypes and shapes are always checked.

    Returns:
        The loss (a scalar, or [n_anchors] for ``reduction='none'``), in the compute dtype.

    Forward and backward read no value on the host (except the CPU's symmetric tiles, see
    :mod:`contrastlab.losses._logsumexp`), and the number of operations does not depend on the
    values.
    """
    if labels is not None and mask is not None:
        raise ValueError("give labels or mask, not both")
    check_temperature("temperature", temperature)
    check_temperature("base_temperature", base_temperature)
    check_choice("contrast_mode", contrast_mode, CONTRAST_MODES)
    check_choice("memory", memory, MEMORY_MODES)
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    flat = _flatten_views(features, validate)
    batch_size, n_views, _ = flat.shape
    device = flat.device
    if labels is not None:
        labels = check_labels("labels", labels, batch_size).to(device)
    if mask is not None:
        mask = _check_mask(mask, batch_size, validate).to(device=device, dtype=flat.dtype)

    with torch.autocast(device_type=device.type, enabled=False):
        # View-major order, as in the reference: row v * bsz + b is view v of sample b.
        contrast = flat.transpose(0, 1).reshape(n_views * batch_size, -1)
        anchor_views = n_views if contrast_mode == "all" else 1
        anchors = contrast[: anchor_views * batch_size]
        scaled_anchors = anchors / temperature
        lse, _ = contrast_logsumexp(
            scaled_anchors,
            contrast,
            DIAGONAL,
            memory=memory,
            with_row_max=False,
            symmetric=contrast_mode == "all" and contrast.shape[0] > 1,
        )

        # Per sample b: the sum of its positives' vectors (all views, its anchors included), and
        # the total positive weight of each of its anchors.
        view_sums = flat.sum(dim=1)  # [bsz, D]
        own = anchors.view(anchor_views, batch_size, -1)  # anchor (v, b) is row v * bsz + b
        if mask is not None:
            positive_vectors = mask @ view_sums  # [bsz, D]: sum_j mask[i, j] * sum_v z_{v, j}
            self_weight = mask.diagonal()
            others = positive_vectors - self_weight.unsqueeze(1) * own  # the anchor left out
            positive_weight = n_views * mask.sum(dim=1) - self_weight
            # Decided on counts, not on the weight sum: the loss is invariant to the mask's scale.
            positive_count = n_views * (mask > 0).sum(dim=1) - (self_weight > 0).long()
            has_positive = (positive_count > 0) & (positive_weight > 0)
        else:
            if labels is None:  # SimCLR: the positives are the other views of the sample
                positive_vectors = view_sums
                positive_weight = flat.new_full((batch_size,), n_views - 1.0)
            else:
                positive_vectors, sizes = _same_label_sums(labels, view_sums)
                positive_weight = (n_views * sizes - 1).to(flat.dtype)
            others = positive_vectors - own
            has_positive = positive_weight > 0
        positive_sum = (scaled_anchors.view_as(own) * others).sum(dim=2)  # [anchor_views, bsz]
        lse = lse.view(anchor_views, batch_size)
        # lse = -inf: no contrast term at all. (A NaN lse stays: unchecked NaN inputs must give a
        # NaN loss, not a silent 0.)
        has_positive = has_positive & (lse != float("-inf"))
        safe_weight = torch.where(has_positive, positive_weight, 1.0)
        mean_log_prob_positive = positive_sum / safe_weight - lse
        per_anchor = -(temperature / base_temperature) * mean_log_prob_positive
        return reduce_loss(per_anchor.reshape(-1), reduction, has_positive.reshape(-1))


class SupConLoss(nn.Module):
    """Module form of :func:`supcon_loss`, with the SupContrast constructor and call signature.

    ``SupConLoss(temperature=0.07, contrast_mode='all', base_temperature=0.07)`` called as
    ``loss(features, labels=None, mask=None)`` with features [bsz, n_views, ...].

    ``gather_distributed=True`` (inside a ``DistributedDataParallel`` script): the features and
    labels of every process are gathered, with gradients for the features, so that each anchor is
    contrasted with the global batch of ``W * bsz`` samples (a ``mask`` must then be the global
    [W bsz, W bsz] one). Every process computes the same global loss; with DDP's gradient averaging
    the parameters get the gradient of one process holding the whole batch (see
    :mod:`contrastlab.collectives`). Without a process group it changes nothing.
    """

    def __init__(
        self,
        temperature: float = 0.07,
        contrast_mode: str = "all",
        base_temperature: float = 0.07,
        reduction: str = "mean",
        memory: str = "auto",
        validate: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_temperature("temperature", temperature)
        check_temperature("base_temperature", base_temperature)
        check_choice("contrast_mode", contrast_mode, CONTRAST_MODES)
        check_choice("memory", memory, MEMORY_MODES)
        self.temperature = temperature
        self.contrast_mode = contrast_mode
        self.base_temperature = base_temperature
        self.reduction = reduction
        self.memory = memory
        self.validate = validate
        self.gather_distributed = gather_distributed

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.gather_distributed:
            features = gather_with_grad(features, validate=self.validate)
            labels = None if labels is None else gather_no_grad(labels, validate=self.validate)
        return supcon_loss(
            features,
            labels=labels,
            mask=mask,
            temperature=self.temperature,
            contrast_mode=self.contrast_mode,
            base_temperature=self.base_temperature,
            reduction=self.reduction,
            memory=self.memory,
            validate=self.validate,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, contrast_mode={self.contrast_mode!r}, "
            f"base_temperature={self.base_temperature}, memory={self.memory!r}, "
            f"gather_distributed={self.gather_distributed}"
        )
