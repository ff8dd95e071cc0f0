"""Binary noise-contrastive estimation (M. Gutmann, A. Hyvärinen, "Noise-contrastive estimation: A
new estimation principle for unnormalized statistical models", AISTATS 2010).

An unnormalised model ``log p_m(x; theta) = score(x)`` (its log-normaliser is a free parameter that
NCE learns) is fitted by logistic regression that tells each data sample from K noise samples drawn
from a known distribution ``p_n``. With the posterior log-odds that ``x`` is data::

    logit(x) = score(x) - log(K * p_n(x))

the loss of one data sample ``x`` and its noise samples ``y_1 .. y_K`` is::

    L = -log sigma(logit(x)) - sum_k log(1 - sigma(logit(y_k)))

computed with ``logsigmoid`` (``log(1 - sigma(z)) = logsigmoid(-z)``), so it is finite for any
score. At the optimum, ``score = log p_data`` (normalised) for any K >= 1 if the model family
contains it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_choice, check_float_tensor, reduce_loss


def _check_same_shape(name: str, tensor: torch.Tensor, reference: str, shape: torch.Size) -> None:
    if tensor.shape != shape:
        raise ValueError(
            f"{name} must have the shape of {reference}, {tuple(shape)}, got {tuple(tensor.shape)}"
        )


def nce_loss(
    data_scores: torch.Tensor,
    noise_scores: torch.Tensor,
    data_log_noise_prob: torch.Tensor,
    noise_log_noise_prob: torch.Tensor,
    reduction: str = "mean",
    validate: bool = False,
) -> torch.Tensor:
    """Binary NCE loss.

    Args:
        data_scores: [B] unnormalised model log-densities of the data samples.
        noise_scores: [B, K] model log-densities of K noise samples per data sample.
        data_log_noise_prob: [B] ``log p_n`` of the data samples under the noise distribution.
        noise_log_noise_prob: [B, K] ``log p_n`` of the noise samples.
        reduction: 'mean' (over the B data samples), 'sum' or 'none' ([B]).
        validate: also check that the inputs are finite (reads values on the host; shapes and
            dtypes are always checked). Forward and backward read none.
    """
    check_float_tensor("data_scores", data_scores, ndim=1, values=validate)
    check_float_tensor("noise_scores", noise_scores, ndim=2, values=validate)
    check_float_tensor("data_log_noise_prob", data_log_noise_prob, ndim=1, values=validate)
    check_float_tensor("noise_log_noise_prob", noise_log_noise_prob, ndim=2, values=validate)
    if noise_scores.shape[0] != data_scores.shape[0]:
        raise ValueError(
            f"noise_scores must be [B, K] with B = {data_scores.shape[0]} data samples, "
            f"got {tuple(noise_scores.shape)}"
        )
    _check_same_shape("data_log_noise_prob", data_log_noise_prob, "data_scores", data_scores.shape)
    _check_same_shape(
        "noise_log_noise_prob", noise_log_noise_prob, "noise_scores", noise_scores.shape
    )
    log_num_noise = math.log(noise_scores.shape[1])
    data_logit = data_scores - data_log_noise_prob - log_num_noise
    noise_logit = noise_scores - noise_log_noise_prob - log_num_noise
    per_sample = -F.logsigmoid(data_logit) - F.logsigmoid(-noise_logit).sum(dim=1)
    return reduce_loss(per_sample, reduction)


class NCELoss(nn.Module):
    """Module form of ``nce_loss``.

    ``forward(data_scores [B], noise_scores [B, K], data_log_noise_prob [B],
    noise_log_noise_prob [B, K])``.
    """

    def __init__(self, reduction: str = "mean", validate: bool = False) -> None:
        super().__init__()
        check_choice("reduction", reduction, ("mean", "sum", "none"))
        self.reduction = reduction
        self.validate = validate

    def forward(
        self,
        data_scores: torch.Tensor,
        noise_scores: torch.Tensor,
        data_log_noise_prob: torch.Tensor,
        noise_log_noise_prob: torch.Tensor,
    ) -> torch.Tensor:
        return nce_loss(
            data_scores,
            noise_scores,
            data_log_noise_prob,
            noise_log_noise_prob,
            self.reduction,
            self.validate,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
