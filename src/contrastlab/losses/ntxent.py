"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., ICML 2020).

For a batch of B samples with V >= 2 views, z L2-normalised and s_ij = z_i . z_j / T::

    L = mean_i  -[ mean_{p in P(i)} s_ip - log sum_{a != i} exp(s_ia) ]

where P(i) are the other V - 1 views of sample i. With V = 2 this is SimCLR's loss over 2B anchors.
It is SupCon without labels and with T_base = T, so it shares :func:`supcon_loss`'s kernel.
"""

from __future__ import annotations

import torch
from torch import nn

from contrastlab._checks import check_float_tensor, check_temperature
from contrastlab.collectives import gather_with_grad
from contrastlab.losses.supcon import supcon_loss


def _stack_views(views: tuple[torch.Tensor, ...]) -> torch.Tensor:
    if len(views) == 1:
        return views[0]
    if any(not isinstance(v, torch.Tensor) or v.shape != views[0].shape for v in views):
        shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else type(v) for v in views]
        raise ValueError(f"every view must be a tensor of the same shape, got {shapes}")
    return torch.stack(views, dim=1)


def ntxent_loss(
    features: torch.Tensor,
    temperature: float = 0.5,
    normalize: bool = True,
    reduction: str = "mean",
    memory: str = "auto",
    validate: bool = False,
) -> torch.Tensor:
    """NT-Xent over features [B, V, ...] (V >= 2 views per sample).

    ``normalize=True`` L2-normalises each view's flattened embedding first (SimCLR's cosine
    similarity); pass already-normalised features with ``normalize=False`` to skip it.
    ``validate=True`` also checks that the features are finite (a host read); ``reduction`` and
    ``memory`` are :func:`supcon_loss`'s. Forward and backward read no value on the host.
    """
    check_temperature("temperature", temperature)
    if not isinstance(features, torch.Tensor) or features.dim() < 3:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features)
        raise ValueError(f"features must be [B, n_views, ...], got {shape}")
    check_float_tensor("features", features, values=validate)
    if features.shape[1] < 2:
        raise ValueError(
            f"NT-Xent needs at least 2 views per sample (the positives), got {features.shape[1]}"
        )
    if features.shape[0] < 2:
        raise ValueError(
            "NT-Xent needs at least 2 samples: the views of a single sample have no negatives "
            f"to be told apart from (features {tuple(features.shape)})"
        )
    if normalize:
        flat = features.reshape(features.shape[0], features.shape[1], -1)
        features = torch.nn.functional.normalize(
            flat.float() if flat.dtype in (torch.float16, torch.bfloat16) else flat, dim=2
        )
    return supcon_loss(
        features,
        temperature=temperature,
        base_temperature=temperature,
        reduction=reduction,
        memory=memory,
    )


class NTXentLoss(nn.Module):
    """Module form of :func:`ntxent_loss`.

    Call with one tensor [B, V, ...] or with V tensors [B, ...] (one per view):
    ``NTXentLoss(0.5)(z1, z2)``. ``gather_distributed=True`` contrasts every anchor with the
    global batch of all processes, as :class:`~contrastlab.losses.SupConLoss` does.
    """

    def __init__(
        self,
        temperature: float = 0.5,
        normalize: bool = True,
        reduction: str = "mean",
        memory: str = "auto",
        validate: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        check_temperature("temperature", temperature)
        self.temperature = temperature
        self.normalize = normalize
        self.reduction = reduction
        self.memory = memory
        self.validate = validate
        self.gather_distributed = gather_distributed

    def forward(self, *views: torch.Tensor) -> torch.Tensor:
        if not views:
            raise ValueError("NTXentLoss needs features [B, V, ...] or one tensor per view")
        features = _stack_views(views)
        if self.gather_distributed:
            features = gather_with_grad(features, validate=self.validate)
        return ntxent_loss(
            features,
            temperature=self.temperature,
            normalize=self.normalize,
            reduction=self.reduction,
            memory=self.memory,
            validate=self.validate,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, normalize={self.normalize}, "
            f"gather_distributed={self.gather_distributed}"
        )
