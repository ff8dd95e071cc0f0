"""Contrastive Predictive Coding loss (van den Oord, Li & Vinyals 2018, arXiv:1807.03748).

An encoder gives latents ``z: [B, T, D]`` and an autoregressive model contexts ``c: [B, T, H]``
(``c_t`` summarises ``z_<=t``). For each prediction step ``k = 1..K`` a linear map ``W_k: H -> D``
scores a candidate future latent with the bilinear ``f_k(z, c_t) = exp(z^T W_k c_t)``. For every
anchor ``(b, t)`` with ``t + k < T`` the positive is ``z[b, t+k]`` and the ``N`` negatives are drawn
uniformly at random from all other ``B * T - 1`` latents of the batch (other times of the same
sequence and any time of the other sequences; never the positive itself). InfoNCE per step::

    L_k = mean_{b,t} [ -log( exp(s_pos) / (exp(s_pos) + sum_n exp(s_neg_n)) ) ],
    s = z^T W_k c_t,        L = (1/K) sum_k L_k

which is cross-entropy over ``[s_pos, s_neg_1..N]`` with the positive at index 0. The per-step
accuracy is the fraction of anchors whose positive scores strictly above every negative.

Memory is ``O(K * M * (N + 1) * D)`` for ``M = B * (T - k)`` anchors; ``max_anchors`` bounds ``M``
by scoring a random subset of anchors per step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from contrastlab._checks import check_float_tensor

Predictors = Sequence[Callable[[torch.Tensor], torch.Tensor]] | torch.Tensor


def _check_count(name: str, value: int | None, minimum: int = 1) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _anchor_positive_index(
    batch: int, time_steps: int, step: int, device: torch.device
) -> torch.Tensor:
    """Flat index ``b * T + t + k`` of the positive of every anchor ``(b, t)``: ``[B, T - k]``."""
    rows = torch.arange(batch, device=device)[:, None] * time_steps
    return rows + torch.arange(time_steps - step, device=device)[None, :] + step


def draw_negative_indices(
    batch: int,
    time_steps: int,
    prediction_steps: int,
    n_negatives: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> list[torch.Tensor]:
    """Random negatives for :func:`cpc_loss`: for step ``k`` an int64 ``[B, T - k, N]`` tensor of
    flat indices into ``z.reshape(B * T, D)``, uniform over the ``B * T - 1`` latents other than
    the positive ``pos = b * T + t + k`` (draw ``r ~ U{0..BT-2}``, then use ``r + (r >= pos)``).

    Random numbers come from ``generator`` (on its own device) and are moved to ``device``.
    """
    _check_count("n_negatives", n_negatives)
    pool = batch * time_steps
    if pool < 2:
        raise ValueError(f"negatives need at least 2 latents in the batch, got B * T = {pool}")
    draw_device = generator.device if generator is not None else torch.device(device or "cpu")
    indices = []
    for step in range(1, prediction_steps + 1):
        positive = _anchor_positive_index(batch, time_steps, step, draw_device)
        shape = (batch, time_steps - step, n_negatives)
        draw = torch.randint(0, pool - 1, shape, generator=generator, device=draw_device)
        indices.append((draw + (draw >= positive[..., None]).long()).to(device or draw_device))
    return indices


def _random_subset(
    count: int, size: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``size`` distinct indices of ``range(count)`` on ``device``, drawn on the generator's
    device (on ``device`` itself without a generator: no host-to-device copy)."""
    draw_device = generator.device if generator is not None else device
    return torch.randperm(count, generator=generator, device=draw_device)[:size].to(device)


def _apply_predictor(predictors: Predictors, step: int, context: torch.Tensor) -> torch.Tensor:
    if isinstance(predictors, torch.Tensor):
        return context @ predictors[step].to(context.dtype).T
    return predictors[step](context)


def cpc_loss(
    z: torch.Tensor,
    context: torch.Tensor,
    predictors: Predictors,
    n_negatives: int = 16,
    generator: torch.Generator | None = None,
    negative_indices: Sequence[torch.Tensor] | None = None,
    max_anchors: int | None = None,
    validate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPC InfoNCE loss over ``K = len(predictors)`` prediction steps (see the module docstring).

    Args:
        z: latents ``[B, T, D]``.
        context: contexts ``[B, T, H]`` (``context[:, t]`` must only depend on ``z[:, :t+1]``).
        predictors: ``K`` maps ``[..., H] -> [..., D]`` (e.g. ``nn.Linear(H, D, bias=False)``), or
            a tensor ``[K, D, H]`` of matrices ``W_k``.
        n_negatives: ``N``, negatives per anchor (drawn with replacement).
        generator: random source for the negatives (and anchor subsampling); ``None`` = global RNG.
        negative_indices: optional fixed negatives, one int64 ``[B, T - k, N]`` tensor per step
            (flat indices into ``z.reshape(B * T, D)``, see :func:`draw_negative_indices`); then
            every anchor is scored and ``n_negatives`` / ``max_anchors`` are ignored.
        max_anchors: score at most this many random anchors per step (bounds memory).
        validate: also check the values: finite ``z`` and ``context``, and ``negative_indices``
            in range and never the positive (reads values on the host; shapes and dtypes are
            always checked).

    Returns:
        ``(loss, accuracy)``: a scalar loss and the detached per-step accuracy ``[K]``.

    Forward and backward read no value on the host (draw the negatives on the latents' device,
    the default, or pass them there: a copy from pageable host memory waits for the device).
    """
    check_float_tensor("z", z, ndim=3, values=validate)
    check_float_tensor("context", context, ndim=3, values=validate)
    batch, time_steps, latent_dim = z.shape
    if context.shape[:2] != z.shape[:2]:
        raise ValueError(
            f"context must be [B, T, H] with B, T = {batch}, {time_steps} like z, "
            f"got {tuple(context.shape)}"
        )
    n_steps = len(predictors)
    if n_steps < 1:
        raise ValueError("predictors must hold at least one prediction step")
    if time_steps <= n_steps:
        raise ValueError(
            f"CPC needs more time steps than prediction steps: T = {time_steps} <= K = {n_steps}; "
            "use longer inputs or fewer prediction_steps"
        )
    _check_count("max_anchors", max_anchors)
    subsample = negative_indices is None
    if negative_indices is None:
        negative_indices = draw_negative_indices(
            batch, time_steps, n_steps, n_negatives, generator, z.device
        )
    elif len(negative_indices) != n_steps:
        raise ValueError(f"negative_indices needs {n_steps} tensors, got {len(negative_indices)}")

    pool = batch * time_steps
    compute = torch.promote_types(torch.promote_types(z.dtype, context.dtype), torch.float32)
    z_flat = z.reshape(pool, latent_dim)
    losses, accuracies = [], []
    for step in range(1, n_steps + 1):
        prediction = _apply_predictor(predictors, step - 1, context[:, : time_steps - step])
        if prediction.shape != (batch, time_steps - step, latent_dim):
            raise ValueError(
                f"predictor {step} must map [B, T, H] to [B, T, D = {latent_dim}], "
                f"got {tuple(prediction.shape)}"
            )
        positive = _anchor_positive_index(batch, time_steps, step, z.device).reshape(-1)
        negatives = negative_indices[step - 1].to(z.device)
        if negatives.dim() != 3 or negatives.shape[:2] != (batch, time_steps - step):
            raise ValueError(
                f"negative_indices[{step - 1}] must be [B, T - k, N] = [{batch}, "
                f"{time_steps - step}, N], got {tuple(negatives.shape)}"
            )
        negatives = negatives.reshape(positive.shape[0], -1)
        if validate and bool(
            ((negatives < 0) | (negatives >= pool) | (negatives == positive[:, None])).any()
        ):
            raise ValueError(
                f"negative_indices[{step - 1}] must lie in [0, {pool}) and exclude the positive"
            )
        prediction = prediction.reshape(-1, latent_dim)
        if subsample and max_anchors is not None and positive.shape[0] > max_anchors:
            chosen = _random_subset(positive.shape[0], max_anchors, generator, z.device)
            positive, negatives, prediction = (
                positive[chosen],
                negatives[chosen],
                prediction[chosen],
            )
        candidates = z_flat[torch.cat([positive[:, None], negatives], dim=1)]  # [M, 1 + N, D]
        # Scores in float32 at least, outside autocast: bilinear scores can overflow fp16.
        with torch.autocast(device_type=z.device.type, enabled=False):
            logits = (candidates.to(compute) * prediction.to(compute)[:, None, :]).sum(dim=-1)
            # Cross-entropy with the positive at index 0: logsumexp(logits) - logits[:, 0].
            losses.append((torch.logsumexp(logits, dim=1) - logits[:, 0]).mean())
            detached = logits.detach()
            accuracies.append((detached[:, 0] > detached[:, 1:].amax(dim=1)).to(compute).mean())
    return torch.stack(losses).mean(), torch.stack(accuracies)


class CPCLoss(nn.Module):
    """CPC loss holding the ``K`` linear predictors ``W_k: H -> D`` (see :func:`cpc_loss`).

    ``max_anchors`` (default 4096, ``None`` for all) caps the anchors scored per step, which
    bounds memory to ``K * max_anchors * (N + 1) * D`` scores' inputs whatever ``B`` and ``T``.

    ``forward(z [B, T, D], context [B, T, H], generator=None, negative_indices=None)``
    returns ``(loss, accuracy [K])``. The predictors are parameters: optimise them with the encoder.
    ``validate=True`` also checks the values of the inputs (see :func:`cpc_loss`).
    """

    def __init__(
        self,
        context_dim: int,
        latent_dim: int,
        prediction_steps: int = 8,
        n_negatives: int = 16,
        max_anchors: int | None = 4096,
        validate: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (
            ("context_dim", context_dim),
            ("latent_dim", latent_dim),
            ("prediction_steps", prediction_steps),
            ("n_negatives", n_negatives),
        ):
            _check_count(name, value)
        _check_count("max_anchors", max_anchors)
        self.context_dim = context_dim
        self.latent_dim = latent_dim
        self.prediction_steps = prediction_steps
        self.n_negatives = n_negatives
        self.max_anchors = max_anchors
        self.validate = validate
        self.predictors = nn.ModuleList(
            nn.Linear(context_dim, latent_dim, bias=False) for _ in range(prediction_steps)
        )

    def forward(
        self,
        z: torch.Tensor,
        context: torch.Tensor,
        generator: torch.Generator | None = None,
        negative_indices: Sequence[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if z.dim() == 3 and z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must be [B, T, {self.latent_dim}], got {tuple(z.shape)}")
        if context.dim() == 3 and context.shape[-1] != self.context_dim:
            raise ValueError(
                f"context must be [B, T, {self.context_dim}], got {tuple(context.shape)}"
            )
        return cpc_loss(
            z,
            context,
            self.predictors,
            n_negatives=self.n_negatives,
            generator=generator,
            negative_indices=negative_indices,
            max_anchors=self.max_anchors,
            validate=self.validate,
        )

    def extra_repr(self) -> str:
        return (
            f"context_dim={self.context_dim}, latent_dim={self.latent_dim}, "
            f"prediction_steps={self.prediction_steps}, n_negatives={self.n_negatives}"
        )
