"""CLUB upper bound on mutual information (Cheng et al. 2020)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from contrastlab.mi import CLUB

Sampler = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # see conftest.correlated_gaussians


def _club(seed: int, x_dim: int = 3, y_dim: int = 2) -> CLUB:
    torch.manual_seed(seed)
    return CLUB(x_dim, y_dim, hidden_dim=8).double()


def _samples(seed: int, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, 3, generator=generator, dtype=torch.float64),
        torch.randn(n, 2, generator=generator, dtype=torch.float64),
    )


def _log_q(club: CLUB, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log q(y_j | x_i) for every i, j by an explicit double loop: [N, N]."""
    mean, logvar = club.conditional(x)
    out = torch.empty(x.shape[0], y.shape[0], dtype=x.dtype)
    for i in range(x.shape[0]):
        normal = torch.distributions.Normal(mean[i], torch.exp(0.5 * logvar[i]))
        for j in range(y.shape[0]):
            out[i, j] = normal.log_prob(y[j]).sum()
    return out


def test_log_likelihood_is_the_gaussian_log_density() -> None:
    club = _club(seed=0)
    x, y = _samples(seed=0)
    expected = torch.diagonal(_log_q(club, x, y)).mean()
    torch.testing.assert_close(club.log_likelihood(x, y), expected)
    torch.testing.assert_close(club.learning_loss(x, y), -expected)


def test_estimate_matches_all_pairs_loop_reference() -> None:
    club = _club(seed=1)
    x, y = _samples(seed=1)
    log_q = _log_q(club, x, y)
    expected = torch.diagonal(log_q).mean() - log_q.mean()
    torch.testing.assert_close(club(x, y), expected)


def test_sampled_estimate_uses_one_shuffled_negative() -> None:
    club = _club(seed=2)
    x, y = _samples(seed=2)
    log_q = _log_q(club, x, y)
    permutation = torch.randperm(6, generator=torch.Generator().manual_seed(7))
    expected = (torch.diagonal(log_q) - log_q[torch.arange(6), permutation]).mean()
    result = club.sampled_estimate(x, y, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(result, expected)


def test_gradcheck_float64() -> None:
    club = _club(seed=3)
    x, y = (t.requires_grad_(True) for t in _samples(seed=3, n=4))
    assert torch.autograd.gradcheck(club, (x, y))
    assert torch.autograd.gradcheck(club.learning_loss, (x, y))


def _train(sample: Sampler, dim: int, rho: float, seed: int) -> tuple[CLUB, torch.Generator]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    club = CLUB(dim, dim, hidden_dim=32).double()
    optimizer = torch.optim.Adam(club.parameters(), lr=1e-2)
    for _ in range(300):
        loss = club.learning_loss(*sample(256, dim, rho, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return club, generator


@pytest.mark.usefixtures("one_thread")
def test_trained_club_bounds_the_true_mi_from_above(correlated_gaussians: Sampler) -> None:
    dim, rho = 2, 0.5
    club, generator = _train(correlated_gaussians, dim, rho, seed=4)
    x, y = correlated_gaussians(4096, dim, rho, generator)
    with torch.no_grad():
        estimate, sampled = club(x, y).item(), club.sampled_estimate(x, y).item()
        mean, logvar = club.conditional(x)
    true_mi = -dim / 2 * math.log(1 - rho**2)  # 0.29
    # With q = p(y | x) = N(rho x, 1 - rho^2) the CLUB value is dim * rho^2 / (1 - rho^2) = 0.67.
    exact_conditional_value = dim * rho**2 / (1 - rho**2)
    assert estimate > true_mi
    assert estimate == pytest.approx(exact_conditional_value, abs=0.08)
    assert sampled == pytest.approx(exact_conditional_value, abs=0.12)
    # q has learnt p(y | x) (on average: an MLP extrapolates poorly in the far tails).
    assert (mean - rho * x).abs().mean().item() < 0.08
    assert logvar.exp().mean().item() == pytest.approx(1 - rho**2, abs=0.05)


@pytest.mark.usefixtures("one_thread")
def test_independent_variables_give_an_estimate_near_zero(correlated_gaussians: Sampler) -> None:
    club, generator = _train(correlated_gaussians, dim=2, rho=0.0, seed=5)
    with torch.no_grad():
        estimate = club(*correlated_gaussians(4096, 2, 0.0, generator)).item()
    assert abs(estimate) < 0.03


def test_bad_inputs_raise_value_errors() -> None:
    club = CLUB(3, 2)
    x, y = torch.zeros(4, 3), torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"x must be \[N, 3\] and y \[N, 2\]"):
        club(y, y)
    with pytest.raises(ValueError, match="same number N of paired samples"):
        club.log_likelihood(x, y[:3])
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        club.learning_loss(x, torch.full_like(y, float("inf")))
    with pytest.raises(ValueError, match="x is empty"):
        club.sampled_estimate(x[:0], y[:0])
    with pytest.raises(ValueError, match="y must be a floating-point tensor"):
        club(x, y.long())


def test_sizes_must_be_positive() -> None:
    import pytest

    from contrastlab.mi import CLUB

    for sizes in ((0, 4), (3, 0), (3, 4, 0)):
        with pytest.raises(ValueError, match="must be an integer >= 1"):
            CLUB(*sizes)
