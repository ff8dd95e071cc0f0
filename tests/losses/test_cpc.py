"""CPC loss: a slow per-anchor loop with the same negatives, gradcheck, a perfect predictor."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from contrastlab.losses.cpc import CPCLoss, cpc_loss, draw_negative_indices


def _reference(
    z: torch.Tensor, context: torch.Tensor, weights: torch.Tensor, negatives: list[torch.Tensor]
) -> tuple[float, list[float]]:
    """Textbook loop: for every step k and anchor (b, t), InfoNCE over [positive, negatives]."""
    batch, time_steps, dim = z.shape
    flat = z.reshape(batch * time_steps, dim)
    step_losses, step_accuracies = [], []
    for k in range(1, weights.shape[0] + 1):
        total, correct, count = 0.0, 0, 0
        for b in range(batch):
            for t in range(time_steps - k):
                prediction = weights[k - 1] @ context[b, t]
                positive = float(z[b, t + k] @ prediction)
                scores = [float(flat[int(n)] @ prediction) for n in negatives[k - 1][b, t]]
                log_denominator = math.log(math.exp(positive) + sum(math.exp(s) for s in scores))
                total += log_denominator - positive
                correct += int(positive > max(scores))
                count += 1
        step_losses.append(total / count)
        step_accuracies.append(correct / count)
    return sum(step_losses) / len(step_losses), step_accuracies


def test_negative_draws_exclude_the_positive_and_cover_the_batch() -> None:
    generator = torch.Generator().manual_seed(0)
    batch, time_steps = 3, 6
    indices = draw_negative_indices(batch, time_steps, 2, 500, generator)
    for k, drawn in enumerate(indices, start=1):
        assert drawn.shape == (3, 6 - k, 500) and drawn.dtype == torch.int64
        positive = torch.arange(3)[:, None] * 6 + torch.arange(6 - k)[None, :] + k
        assert not (drawn == positive[..., None]).any()
        # Other times and other sequences are drawn; all 17 other latents appear for each anchor.
        assert all(len(drawn[b, t].unique()) == 17 for b in range(3) for t in range(6 - k))


def test_matches_slow_loop_with_fixed_negatives() -> None:
    torch.manual_seed(0)
    batch, time_steps, latent_dim, context_dim, steps = 3, 7, 5, 4, 3
    z = torch.randn(batch, time_steps, latent_dim, dtype=torch.float64)
    context = torch.randn(batch, time_steps, context_dim, dtype=torch.float64)
    weights = torch.randn(steps, latent_dim, context_dim, dtype=torch.float64)
    negatives = draw_negative_indices(batch, time_steps, steps, 6, torch.Generator().manual_seed(1))
    loss, accuracy = cpc_loss(z, context, weights, negative_indices=negatives)
    ref_loss, ref_accuracy = _reference(z, context, weights, negatives)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-10)
    assert accuracy.tolist() == pytest.approx(ref_accuracy)
    # The module with the same matrices in its nn.Linear predictors gives the same loss.
    module = CPCLoss(context_dim, latent_dim, steps, n_negatives=6).double()
    with torch.no_grad():
        for linear, w in zip(module.predictors, weights, strict=True):
            linear.weight.copy_(w)
    module_loss, _ = module(z, context, negative_indices=negatives)
    assert module_loss.item() == pytest.approx(ref_loss, rel=1e-10)


def test_generator_draws_are_the_documented_ones() -> None:
    torch.manual_seed(0)
    z, context = (
        torch.randn(2, 9, 4, dtype=torch.float64),
        torch.randn(2, 9, 3, dtype=torch.float64),
    )
    weights = torch.randn(2, 4, 3, dtype=torch.float64)
    loss, accuracy = cpc_loss(
        z, context, weights, n_negatives=5, generator=torch.Generator().manual_seed(7)
    )
    negatives = draw_negative_indices(2, 9, 2, 5, torch.Generator().manual_seed(7))
    ref_loss, ref_accuracy = _reference(z, context, weights, negatives)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-10)
    assert accuracy.tolist() == pytest.approx(ref_accuracy)


def test_gradcheck_float64() -> None:
    torch.manual_seed(0)
    z = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    context = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    negatives = draw_negative_indices(2, 5, 2, 3, torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(
        lambda a, b, w: cpc_loss(a, b, w, negative_indices=negatives)[0], (z, context, weights)
    )


def test_perfect_predictors_give_accuracy_one() -> None:
    """z: distinct unit vectors; c_t stacks z_{t+1..t+K}; W_k selects block k, so W_k c_t = z_{t+k}
    exactly and the positive (score 1) beats every other unit vector (score < 1)."""
    torch.manual_seed(0)
    batch, time_steps, dim, steps = 4, 10, 16, 3
    z = nn.functional.normalize(torch.randn(batch, time_steps, dim), dim=-1)
    padded = torch.cat([z, torch.zeros(batch, steps, dim)], dim=1)
    context = torch.cat([padded[:, k : k + time_steps] for k in range(1, steps + 1)], dim=-1)
    weights = torch.zeros(steps, dim, steps * dim)
    for k in range(steps):
        weights[k, :, k * dim : (k + 1) * dim] = torch.eye(dim)
    _, accuracy = cpc_loss(
        z, context, weights, n_negatives=30, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(accuracy, torch.ones(steps))
    # Scaling the predictions up drives the loss towards 0.
    sharp, _ = cpc_loss(
        z, context, 50 * weights, n_negatives=30, generator=torch.Generator().manual_seed(0)
    )
    assert sharp.item() < 1e-3


def test_random_scores_give_chance_level_loss() -> None:
    # With all-zero predictors every score is 0: loss = log(N + 1), accuracy 0 (no strict win).
    z, context = torch.randn(4, 8, 5), torch.randn(4, 8, 6)
    loss, accuracy = cpc_loss(z, context, torch.zeros(2, 5, 6), n_negatives=9)
    assert loss.item() == pytest.approx(math.log(10), rel=1e-6)
    assert torch.equal(accuracy, torch.zeros(2))


def test_anchor_subsampling_bounds_the_work() -> None:
    torch.manual_seed(0)
    z, context = torch.randn(8, 20, 6), torch.randn(8, 20, 5)
    module = CPCLoss(5, 6, prediction_steps=4, n_negatives=4, max_anchors=10)
    a, _ = module(z, context, generator=torch.Generator().manual_seed(3))
    b, _ = module(z, context, generator=torch.Generator().manual_seed(3))
    assert a.item() == b.item() and torch.isfinite(a)
    full = CPCLoss(5, 6, prediction_steps=4, n_negatives=4, max_anchors=10_000)
    full.load_state_dict(module.state_dict())
    default = CPCLoss(5, 6, prediction_steps=4, n_negatives=4)  # max_anchors 4096 > 152 anchors
    default.load_state_dict(module.state_dict())
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert full(z, context, generator=g1)[0].item() == default(z, context, generator=g2)[0].item()


def test_backward_reaches_predictors_and_autocast() -> None:
    module = CPCLoss(6, 5, prediction_steps=2, n_negatives=3)
    z = torch.randn(2, 6, 5, requires_grad=True)
    context = torch.randn(2, 6, 6, requires_grad=True)
    loss, _ = module(z, context)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, accuracy = module(1e3 * z, context)
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and accuracy.shape == (2,)


def test_errors() -> None:
    z, context = torch.randn(2, 4, 3), torch.randn(2, 4, 5)
    with pytest.raises(ValueError, match=r"T = 4 <= K = 4"):
        cpc_loss(z, context, torch.zeros(4, 3, 5))
    with pytest.raises(ValueError, match="context must be"):
        cpc_loss(z, torch.randn(2, 3, 5), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="predictor 1 must map"):
        cpc_loss(z, context, [nn.Linear(5, 7)])
    with pytest.raises(ValueError, match="exclude the positive"):
        bad = [torch.full((2, 3, 1), 1)]  # index 1 is the positive of anchor (0, 0) at k = 1
        cpc_loss(z, context, torch.zeros(1, 3, 5), negative_indices=bad, validate=True)
    with pytest.raises(ValueError, match="at least one prediction step"):
        cpc_loss(z, context, [])
    with pytest.raises(ValueError, match="at least 2 latents"):
        draw_negative_indices(1, 1, 0, 3)
    with pytest.raises(ValueError, match="n_negatives"):
        CPCLoss(5, 3, n_negatives=0)
    with pytest.raises(ValueError, match=r"z must be \[B, T, 3\]"):
        CPCLoss(5, 3, 1)(torch.randn(2, 4, 4), context)
