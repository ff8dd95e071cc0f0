"""InfoNCE lower bound on mutual information: closed forms, the log N ceiling, Gaussians."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from contrastlab.mi import InfoNCEEstimator, infonce_lower_bound

Sampler = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # see conftest.correlated_gaussians


def _true_mi(dim: int, rho: float) -> float:
    return -dim / 2 * math.log(1 - rho**2)


def _optimal_scores(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """The optimal critic log p(y_j | x_i) - log p(y_j), up to constants: [N, N]."""
    squared = ((y[None, :, :] - rho * x[:, None, :]) ** 2).sum(dim=2)
    return -squared / (2 * (1 - rho**2)) + (y**2).sum(dim=1)[None, :] / 2


def test_matches_loop_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    total = 0.0
    for i in range(5):
        row = scores[i].tolist()
        total += row[i] - math.log(sum(math.exp(s) for s in row) / 5)
    assert infonce_lower_bound(scores).item() == pytest.approx(total / 5, rel=1e-12)


def test_closed_forms() -> None:
    # A critic that ignores its inputs learns nothing: the bound is 0.
    assert infonce_lower_bound(torch.zeros(7, 7)).item() == pytest.approx(0.0, abs=1e-6)
    # c on the diagonal: log N + c - log(e^c + N - 1), which tends to log N.
    c, n = 3.0, 8
    expected = math.log(n) + c - math.log(math.exp(c) + n - 1)
    result = infonce_lower_bound(c * torch.eye(n, dtype=torch.float64))
    assert result.item() == pytest.approx(expected, rel=1e-12)
    far = infonce_lower_bound(100.0 * torch.eye(n, dtype=torch.float64))
    assert far.item() == pytest.approx(math.log(n), rel=1e-12)


def test_never_exceeds_log_n() -> None:
    generator = torch.Generator().manual_seed(1)
    for n in (2, 5, 33):
        for scale in (0.1, 10.0, 1e3):
            scores = scale * torch.randn(n, n, generator=generator, dtype=torch.float64)
            scores += scale * torch.eye(n, dtype=torch.float64)
            assert infonce_lower_bound(scores).item() <= math.log(n) + 1e-12


def test_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(infonce_lower_bound, (scores,))


def test_optimal_critic_recovers_small_mi_and_saturates_at_log_n(
    correlated_gaussians: Sampler,
) -> None:
    generator = torch.Generator().manual_seed(3)
    # I = 0.29 << log 2048 = 7.6: the bound is nearly tight.
    x, y = correlated_gaussians(2048, dim=2, rho=0.5, generator=generator)
    estimate = infonce_lower_bound(_optimal_scores(x, y, rho=0.5)).item()
    assert estimate == pytest.approx(_true_mi(2, 0.5), abs=0.05)
    # I = 9.8 >> log 64 = 4.2: even the optimal critic is capped by log N, and gets close to it.
    x, y = correlated_gaussians(64, dim=5, rho=0.99, generator=generator)
    capped = infonce_lower_bound(_optimal_scores(x, y, rho=0.99)).item()
    assert math.log(64) - 0.3 < capped <= math.log(64)


@pytest.mark.usefixtures("one_thread")
def test_trained_estimator_approaches_the_true_mi_from_below(
    correlated_gaussians: Sampler,
) -> None:
    torch.manual_seed(4)
    generator = torch.Generator().manual_seed(4)
    dim, rho = 2, 0.8
    estimator = InfoNCEEstimator(dim, dim, hidden_dim=32, embedding_dim=16).double()
    optimizer = torch.optim.Adam(estimator.parameters(), lr=3e-3)
    for _ in range(300):
        x, y = correlated_gaussians(256, dim, rho, generator)
        loss = -estimator(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        estimates = [estimator(*correlated_gaussians(512, dim, rho, generator)) for _ in range(8)]
    estimate = torch.stack(estimates).mean().item()
    true_mi = _true_mi(dim, rho)  # 1.02, well below log 512 = 6.2
    assert true_mi - 0.15 < estimate < min(true_mi, math.log(512)) + 0.05


def test_bilinear_critic_scores() -> None:
    estimator = InfoNCEEstimator(3, 2, critic="bilinear")
    generator = torch.Generator().manual_seed(5)
    x, y = torch.randn(4, 3, generator=generator), torch.randn(4, 2, generator=generator)
    weight = estimator.critic.weight.weight  # [x_dim, y_dim]
    torch.testing.assert_close(estimator.scores(x, y), x @ weight @ y.T)
    torch.testing.assert_close(estimator(x, y), infonce_lower_bound(x @ weight @ y.T))


def test_bad_inputs_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="square"):
        infonce_lower_bound(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scores must be 2-D"):
        infonce_lower_bound(torch.zeros(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        infonce_lower_bound(torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match="scores is empty"):
        infonce_lower_bound(torch.zeros(0, 0))
    estimator = InfoNCEEstimator(3, 2)
    with pytest.raises(ValueError, match=r"x must be \[N, 3\] and y \[N, 2\]"):
        estimator(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="same number N of paired samples"):
        estimator(torch.zeros(4, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="x must be 2-D"):
        estimator(torch.zeros(3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="critic"):
        InfoNCEEstimator(3, 2, critic="concat")
