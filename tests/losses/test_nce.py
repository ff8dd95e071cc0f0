"""Binary noise-contrastive estimation (Gutmann & Hyvärinen 2010)."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.losses.nce import NCELoss, nce_loss


def _reference(
    data_scores: torch.Tensor,
    noise_scores: torch.Tensor,
    data_log_noise_prob: torch.Tensor,
    noise_log_noise_prob: torch.Tensor,
) -> list[float]:
    """-log h(x) - sum_k log(1 - h(y_k)), h(u) = p_m(u) / (p_m(u) + K p_n(u)), term by term."""
    num_noise = noise_scores.shape[1]
    losses = []
    for b in range(data_scores.shape[0]):
        p_model = math.exp(data_scores[b])
        p_noise = math.exp(data_log_noise_prob[b])
        loss = -math.log(p_model / (p_model + num_noise * p_noise))
        for k in range(num_noise):
            q_model = math.exp(noise_scores[b, k])
            q_noise = math.exp(noise_log_noise_prob[b, k])
            loss -= math.log(1.0 - q_model / (q_model + num_noise * q_noise))
        losses.append(loss)
    return losses


def _inputs(seed: int, batch: int = 6, num_noise: int = 3) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, generator=generator, dtype=torch.float64),
        torch.randn(batch, num_noise, generator=generator, dtype=torch.float64),
        torch.randn(batch, generator=generator, dtype=torch.float64) - 1.0,
        torch.randn(batch, num_noise, generator=generator, dtype=torch.float64) - 1.0,
    )


def test_matches_reference() -> None:
    inputs = _inputs(seed=0)
    expected = torch.tensor(_reference(*inputs), dtype=torch.float64)
    torch.testing.assert_close(nce_loss(*inputs, reduction="none"), expected)
    torch.testing.assert_close(nce_loss(*inputs), expected.mean())
    torch.testing.assert_close(nce_loss(*inputs, reduction="sum"), expected.sum())
    torch.testing.assert_close(NCELoss(reduction="sum")(*inputs), expected.sum())


def test_closed_form_when_model_equals_k_times_noise() -> None:
    # score = log(K p_n): every logit is 0, so each of the 1 + K terms is log 2.
    num_noise = 4
    log_noise = torch.tensor([-1.0, 0.3])
    noise_log_noise = torch.tensor([[0.1, -2.0, 0.0, 1.0], [-0.5, 0.5, 2.0, -3.0]])
    data_scores = log_noise + math.log(num_noise)
    noise_scores = noise_log_noise + math.log(num_noise)
    result = nce_loss(data_scores, noise_scores, log_noise, noise_log_noise, reduction="none")
    torch.testing.assert_close(result, torch.full((2,), 5 * math.log(2.0)))


def test_extreme_scores_stay_finite() -> None:
    data_scores = torch.tensor([-1e4, 1e4])
    noise_scores = torch.tensor([[1e4, -1e4], [-1e4, 1e4]])
    zeros = torch.zeros(2)
    result = nce_loss(data_scores, noise_scores, zeros, torch.zeros(2, 2), reduction="none")
    assert torch.isfinite(result).all()
    # -log sigma(-1e4 - log 2) ~ 1e4 for the data term, the same for the noise term.
    torch.testing.assert_close(result, torch.tensor([2e4, 1e4]), rtol=1e-3, atol=0.0)


def test_gradcheck_float64() -> None:
    inputs = tuple(t.clone().requires_grad_(True) for t in _inputs(seed=1))
    assert torch.autograd.gradcheck(nce_loss, inputs)


def test_fitting_a_gaussian_recovers_its_mean_scale_and_log_normaliser() -> None:
    """NCE learns the log-normaliser c = -log(sigma sqrt(2 pi)) as a free parameter."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    true_mean, true_std = 1.5, 0.8
    noise_mean, noise_std = 0.5, 2.0
    batch, num_noise = 4000, 4
    data = true_mean + true_std * torch.randn(batch, generator=generator, dtype=torch.float64)
    noise = noise_mean + noise_std * torch.randn(
        batch, num_noise, generator=generator, dtype=torch.float64
    )
    noise_distribution = torch.distributions.Normal(noise_mean, noise_std)
    data_log_noise = noise_distribution.log_prob(data)
    noise_log_noise = noise_distribution.log_prob(noise)

    mean = torch.zeros((), dtype=torch.float64, requires_grad=True)
    log_std = torch.zeros((), dtype=torch.float64, requires_grad=True)
    log_normaliser = torch.zeros((), dtype=torch.float64, requires_grad=True)

    def score(x: torch.Tensor) -> torch.Tensor:
        return -((x - mean) ** 2) / (2 * torch.exp(2 * log_std)) + log_normaliser

    optimizer = torch.optim.LBFGS(
        [mean, log_std, log_normaliser], max_iter=200, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nce_loss(score(data), score(noise), data_log_noise, noise_log_noise)
        loss.backward()
        return loss

    optimizer.step(closure)
    assert mean.item() == pytest.approx(true_mean, abs=0.05)
    assert math.exp(log_std.item()) == pytest.approx(true_std, abs=0.05)
    true_log_normaliser = -math.log(true_std * math.sqrt(2 * math.pi))
    assert log_normaliser.item() == pytest.approx(true_log_normaliser, abs=0.07)


def test_bad_inputs_raise_value_errors() -> None:
    data_scores, noise_scores, data_log_noise, noise_log_noise = _inputs(seed=2)
    with pytest.raises(ValueError, match="data_scores must be 1-D"):
        nce_loss(data_scores[:, None], noise_scores, data_log_noise, noise_log_noise)
    with pytest.raises(ValueError, match="noise_scores must be 2-D"):
        nce_loss(data_scores, noise_scores[0], data_log_noise, noise_log_noise)
    with pytest.raises(ValueError, match=r"noise_scores must be \[B, K\] with B = 6"):
        nce_loss(data_scores, noise_scores[:5], data_log_noise, noise_log_noise[:5])
    with pytest.raises(ValueError, match="data_log_noise_prob must have the shape of data_scores"):
        nce_loss(data_scores, noise_scores, data_log_noise[:5], noise_log_noise)
    with pytest.raises(ValueError, match="noise_log_noise_prob must have the shape"):
        nce_loss(data_scores, noise_scores, data_log_noise, noise_log_noise[:, :2])
    with pytest.raises(ValueError, match="noise_scores contains NaN or inf"):
        noise_scores_inf = noise_scores.clone().fill_(math.inf)
        nce_loss(data_scores, noise_scores_inf, data_log_noise, noise_log_noise, validate=True)
    with pytest.raises(ValueError, match="data_scores is empty"):
        nce_loss(data_scores[:0], noise_scores[:0], data_log_noise[:0], noise_log_noise[:0])
    with pytest.raises(ValueError, match="floating-point"):
        nce_loss(data_scores.long(), noise_scores, data_log_noise, noise_log_noise)
    with pytest.raises(ValueError, match="reduction"):
        NCELoss(reduction="batchmean")
