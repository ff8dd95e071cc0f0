"""CLUB, a contrastive log-ratio upper bound on mutual information (P. Cheng, W. Hao, S. Dai,
J. Liu, Z. Gan, L. Carin, "CLUB: A Contrastive Log-ratio Upper Bound of Mutual Information",
ICML 2020).

With a variational conditional ``q(y | x)`` close to ``p(y | x)``::

    I_CLUB = E_p(x,y)[log q(y | x)] - E_p(x) E_p(y)[log q(y | x)]
           ~ 1/N sum_i log q(y_i | x_i) - 1/N^2 sum_i sum_j log q(y_j | x_i)

is an upper bound on I(X; Y) when q is good (exactly so for ``q = p``), and is what one minimises
to reduce the dependence between two representations (e.g. for disentangling). ``q`` is a diagonal
Gaussian whose mean and log-variance are MLPs of ``x``, trained on the same samples by maximising
its log-likelihood (``learning_loss``), alternately with whatever uses the estimate.

Unlike the reference code, the log-variance is not squashed by ``tanh`` (which caps the variance at
``e`` and floors it at ``1/e`` and so biases the estimate when ``Var(y | x)`` lies outside), and the
log-likelihood keeps its 1/2 and constant terms, so it is the true Gaussian log-density. The
all-pairs term is computed in O(N D) from ``mean_j (y_j - mu_i)^2 = (mu_i - mean(y))^2 + var(y)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from contrastlab.mi.infonce_bound import check_joint_samples, mlp


class CLUB(nn.Module):
    """CLUB estimator: ``forward(x [N, x_dim], y [N, y_dim])`` -> upper-bound estimate (nats).

    ``log_likelihood(x, y)`` / ``learning_loss(x, y)`` fit ``q(y | x)``; ``sampled_estimate`` is the
    cheaper CLUB-S variant with one shuffled negative per sample.
    """

    def __init__(self, x_dim: int, y_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.x_dim, self.y_dim = x_dim, y_dim
        self.mean_net = mlp(x_dim, hidden_dim, y_dim, hidden_layers=1)
        self.logvar_net = mlp(x_dim, hidden_dim, y_dim, hidden_layers=1)

    def conditional(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(y | x)``, [N, y_dim] each."""
        return self.mean_net(x), self.logvar_net(x)

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``1/N sum_i log q(y_i | x_i)``, a 0-d tensor; the Gaussian log-density in full."""
        check_joint_samples(x, y, self.x_dim, self.y_dim)
        mean, logvar = self.conditional(x)
        squared = (y - mean).pow(2) / logvar.exp()
        return (-0.5 * (squared + logvar + math.log(2 * math.pi))).sum(dim=1).mean()

    def learning_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``-log_likelihood(x, y)``: minimise it over ``q``'s parameters."""
        return -self.log_likelihood(x, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``1/N sum_i log q(y_i|x_i) - 1/N^2 sum_ij log q(y_j|x_i)``, a 0-d tensor.

        The log-variance and constant terms of the two log-densities cancel.
        """
        check_joint_samples(x, y, self.x_dim, self.y_dim)
        mean, logvar = self.conditional(x)
        inverse_variance = torch.exp(-logvar)
        positive = -0.5 * ((y - mean).pow(2) * inverse_variance).sum(dim=1)
        all_pairs_squared = (mean - y.mean(dim=0)).pow(2) + y.var(dim=0, unbiased=False)
        negative = -0.5 * (all_pairs_squared * inverse_variance).sum(dim=1)
        return (positive - negative).mean()

    def sampled_estimate(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """CLUB-S: ``1/N sum_i [log q(y_i | x_i) - log q(y_{k_i} | x_i)]``, ``k`` a permutation.

        Unbiased for the same quantity as ``forward``, with O(N) work; ``generator`` makes it
        reproducible (it must live on the device of ``x``).
        """
        check_joint_samples(x, y, self.x_dim, self.y_dim)
        mean, logvar = self.conditional(x)
        inverse_variance = torch.exp(-logvar)
        shuffled = y[torch.randperm(y.shape[0], generator=generator, device=y.device)]
        positive = -0.5 * ((y - mean).pow(2) * inverse_variance).sum(dim=1)
        negative = -0.5 * ((shuffled - mean).pow(2) * inverse_variance).sum(dim=1)
        return (positive - negative).mean()

    def extra_repr(self) -> str:
        return f"x_dim={self.x_dim}, y_dim={self.y_dim}"
