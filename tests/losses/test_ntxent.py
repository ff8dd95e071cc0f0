"""NT-Xent (SimCLR) against the textbook 2N-way cross-entropy written out with loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlab.losses import NTXentLoss, ntxent_loss


def slow_ntxent(views, temperature):
    """SimCLR's loss: for each of the V*B items, mean over its other views of -log softmax."""
    n_views, bsz = len(views), views[0].shape[0]
    z = [[F.normalize(views[v][b].double(), dim=0) for b in range(bsz)] for v in range(n_views)]
    items = [(v, b) for v in range(n_views) for b in range(bsz)]
    total = 0.0
    for v, b in items:
        denominator = sum(
            math.exp(float(z[v][b] @ z[w][c]) / temperature) for w, c in items if (w, c) != (v, b)
        )
        positives = [
            -math.log(math.exp(float(z[v][b] @ z[w][b]) / temperature) / denominator)
            for w in range(n_views)
            if w != v
        ]
        total += sum(positives) / len(positives)
    return total / len(items)


@pytest.mark.parametrize("n_views", [2, 3])
def test_matches_textbook_simclr_loss(n_views):
    generator = torch.Generator().manual_seed(n_views)
    views = [torch.randn(7, 10, generator=generator, dtype=torch.float64) for _ in range(n_views)]
    expected = slow_ntxent(views, temperature=0.5)
    assert NTXentLoss(0.5)(*views).item() == pytest.approx(expected, rel=1e-10)
    stacked = torch.stack(views, dim=1)
    assert ntxent_loss(stacked, 0.5).item() == pytest.approx(expected, rel=1e-10)


def test_unnormalised_inputs_are_normalised_and_scale_invariant():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(6, 2, 4, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(ntxent_loss(features), ntxent_loss(features * 7.5))
    normalised = F.normalize(features, dim=2)
    torch.testing.assert_close(ntxent_loss(normalised, normalize=False), ntxent_loss(features))


def test_gradcheck_float64():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(5, 2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ntxent_loss(x, temperature=0.2), (features,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_under_autocast(dtype):
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(16, 2, 32, generator=generator).to(dtype).requires_grad_(True)
    with torch.autocast(device_type="cpu", dtype=dtype):
        loss = ntxent_loss(features, temperature=0.05)
    loss.backward()
    assert torch.isfinite(features.grad.float()).all()
    assert loss.item() == pytest.approx(ntxent_loss(features.double(), 0.05).item(), rel=1e-5)


def test_single_view_and_mismatched_views_are_rejected():
    with pytest.raises(ValueError, match="at least 2 views"):
        ntxent_loss(torch.randn(4, 1, 8))
    with pytest.raises(ValueError, match="same shape"):
        NTXentLoss()(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"\[B, n_views"):
        ntxent_loss(torch.randn(4, 8))


def test_extreme_inputs_are_refused_by_name() -> None:
    """A batch of one has no negatives (the loss would be a rounding error around 0), and a
    temperature below 1e-6 would overflow float32 once the similarities are divided by it."""
    import pytest

    from contrastlab.losses import ntxent_loss, supcon_loss

    single = torch.nn.functional.normalize(torch.randn(1, 2, 8), dim=2)
    with pytest.raises(ValueError, match="at least 2 samples"):
        ntxent_loss(single)
    features = torch.nn.functional.normalize(torch.randn(8, 2, 8), dim=2)
    for loss in (ntxent_loss, supcon_loss):
        with pytest.raises(ValueError, match="temperature must be >= 1e-06"):
            loss(features, temperature=1e-40)
