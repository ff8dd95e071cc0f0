"""InfoNCE lower bound on mutual information (A. van den Oord, Y. Li, O. Vinyals, "Representation
Learning with Contrastive Predictive Coding", 2018; B. Poole et al., "On Variational Bounds of
Mutual Information", ICML 2019).

For N pairs ``(x_i, y_i) ~ p(x, y)`` and a critic ``f`` with scores ``S_ij = f(x_i, y_j)``::

    I(X; Y) >= E[ 1/N sum_i log( exp(S_ii) / (1/N sum_j exp(S_ij)) ) ]
             = log N - CrossEntropy(S, targets = diagonal)

The bound is tight only when ``I << log N``: whatever the critic, the estimate never exceeds
``log N`` (each term is ``log N + log softmax(S_i)_i <= log N``), so large mutual information
needs large batches. The optimal critic is ``log p(y | x) / p(y)`` up to any function of ``x``
alone. Maximising the bound over the critic is the InfoNCE / CPC training objective.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._checks import check_choice, check_float_tensor, check_int

CRITICS = ("separable", "bilinear")


def infonce_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    """``log N - CE(scores, diag)`` for critic scores [N, N] (``scores[i, j] = f(x_i, y_j)``).

    Returns a 0-d tensor <= log N, in nats; differentiable, to be maximised over the critic.
    """
    check_float_tensor("scores", scores, ndim=2)
    n_samples = scores.shape[0]
    if scores.shape[1] != n_samples:
        raise ValueError(
            f"scores must be a square [N, N] matrix of f(x_i, y_j), got {tuple(scores.shape)}"
        )
    targets = torch.arange(n_samples, device=scores.device)
    return math.log(n_samples) - F.cross_entropy(scores, targets)


def check_joint_samples(x: torch.Tensor, y: torch.Tensor, x_dim: int, y_dim: int) -> None:
    """Require paired samples ``x`` [N, x_dim] and ``y`` [N, y_dim] (finite floats, N >= 1)."""
    check_float_tensor("x", x, ndim=2)
    check_float_tensor("y", y, ndim=2)
    if x.shape[1] != x_dim or y.shape[1] != y_dim:
        raise ValueError(
            f"x must be [N, {x_dim}] and y [N, {y_dim}], got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must hold the same number N of paired samples, got {x.shape[0]} and "
            f"{y.shape[0]}"
        )


def mlp(in_dim: int, hidden_dim: int, out_dim: int, hidden_layers: int = 2) -> nn.Sequential:
    """``hidden_layers`` Linear + ReLU blocks of width ``hidden_dim``, a Linear to ``out_dim``;
    every size a positive integer (ValueError naming it otherwise)."""
    for name, value in (("x_dim / y_dim", in_dim), ("hidden_dim", hidden_dim), ("output", out_dim)):
        check_int(name, value)
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(hidden_layers):
        blocks += [nn.Linear(width, hidden_dim), nn.ReLU()]
        width = hidden_dim
    return nn.Sequential(*blocks, nn.Linear(width, out_dim))


class SeparableCritic(nn.Module):
    """``f(x, y) = g(x) . h(y)`` with two MLPs (Poole et al. 2019): N^2 scores in one product."""

    def __init__(self, x_dim: int, y_dim: int, hidden_dim: int = 64, embedding_dim: int = 32):
        super().__init__()
        self.x_net = mlp(x_dim, hidden_dim, embedding_dim)
        self.y_net = mlp(y_dim, hidden_dim, embedding_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` [N, x_dim], ``y`` [M, y_dim] -> scores [N, M]."""
        return self.x_net(x) @ self.y_net(y).T


class BilinearCritic(nn.Module):
    """``f(x, y) = x^T W y`` (CPC's critic ``z^T W_k c``)."""

    def __init__(self, x_dim: int, y_dim: int):
        super().__init__()
        self.weight = nn.Linear(check_int("y_dim", y_dim), check_int("x_dim", x_dim), bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` [N, x_dim], ``y`` [M, y_dim] -> scores [N, M]."""
        return x @ self.weight(y).T


class InfoNCEEstimator(nn.Module):
    """A trainable critic and the InfoNCE bound: ``forward(x [N, x_dim], y [N, y_dim])``.

    Train by maximising ``forward(x, y)`` (e.g. ``loss = -estimator(x, y)``) on batches of paired
    samples; the other rows of a batch serve as samples of ``p(y)``. The estimate is <= log N.

    Args:
        x_dim, y_dim: feature sizes.
        hidden_dim, embedding_dim: sizes of the separable critic's MLPs.
        critic: 'separable' (``g(x) . h(y)``, MLPs) or 'bilinear' (``x^T W y``).
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden_dim: int = 64,
        embedding_dim: int = 32,
        critic: str = "separable",
    ) -> None:
        super().__init__()
        check_choice("critic", critic, CRITICS)
        self.x_dim, self.y_dim = x_dim, y_dim
        self.critic: nn.Module = (
            SeparableCritic(x_dim, y_dim, hidden_dim, embedding_dim)
            if critic == "separable"
            else BilinearCritic(x_dim, y_dim)
        )

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Critic scores ``f(x_i, y_j)`` [N, N]."""
        check_joint_samples(x, y, self.x_dim, self.y_dim)
        return self.critic(x, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return infonce_lower_bound(self.scores(x, y))
