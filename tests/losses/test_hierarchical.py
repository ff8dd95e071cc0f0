"""TS2Vec's hierarchical contrastive loss against an explicit per-anchor loop, gradients in float64,
the pyramid's level count, autocast and input errors."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.losses import HierarchicalContrastiveLoss, hierarchical_contrastive_loss
from contrastlab.losses.hierarchical import instance_contrastive_loss, temporal_contrastive_loss


def make(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def dot(u: list[float], v: list[float]) -> float:
    return sum(a * b for a, b in zip(u, v, strict=True))


def slow_anchor_loss(anchor: list[float], positive: list[float], negatives: list[list[float]]):
    scores = [dot(anchor, positive)] + [dot(anchor, n) for n in negatives]
    top = max(scores)
    return -(scores[0] - top - math.log(sum(math.exp(s - top) for s in scores)))


def slow_level(z1: list, z2: list, kind: str) -> float:
    """One level, anchor by anchor: z[i][t] is a list of C floats."""
    series, steps = len(z1), len(z1[0])
    losses = []
    for anchor_view, other_view in ((z1, z2), (z2, z1)):
        for i in range(series):
            for t in range(steps):
                if kind == "instance":
                    others = [j for j in range(series) if j != i]
                    negatives = [other_view[j][t] for j in others] + [
                        anchor_view[j][t] for j in others
                    ]
                else:
                    others = [s for s in range(steps) if s != t]
                    negatives = [other_view[i][s] for s in others] + [
                        anchor_view[i][s] for s in others
                    ]
                if not negatives:
                    losses.append(0.0)
                    continue
                losses.append(slow_anchor_loss(anchor_view[i][t], other_view[i][t], negatives))
    return sum(losses) / len(losses)


def slow_max_pool(z: list) -> list:
    """Kernel-2 max-pooling along time of z[i][t][c], an odd last step dropped."""
    return [
        [
            [max(series[2 * t][c], series[2 * t + 1][c]) for c in range(len(series[0]))]
            for t in range(len(series) // 2)
        ]
        for series in z
    ]


def slow_hierarchical(z1: torch.Tensor, z2: torch.Tensor, alpha: float, temporal_unit: int):
    a, b = z1.tolist(), z2.tolist()
    terms = []
    level = 0
    while True:
        steps = len(a[0])
        term = alpha * slow_level(a, b, "instance")
        if steps > 1 and level >= temporal_unit:
            term += (1 - alpha) * slow_level(a, b, "temporal")
        terms.append(term)
        if steps == 1:
            return sum(terms) / len(terms)
        a, b = slow_max_pool(a), slow_max_pool(b)
        level += 1


@pytest.mark.parametrize(
    ("batch", "steps", "alpha", "temporal_unit"),
    [(3, 7, 0.5, 0), (4, 8, 0.3, 1), (2, 5, 1.0, 0), (3, 6, 0.0, 0), (1, 4, 0.5, 0)],
)
def test_matches_slow_reference(batch, steps, alpha, temporal_unit):
    z1 = make(0, batch, steps, 3)
    z2 = 0.7 * z1 + 0.5 * make(1, batch, steps, 3)  # positives close, but not always the closest
    expected = slow_hierarchical(z1, z2, alpha, temporal_unit)
    loss = hierarchical_contrastive_loss(z1, z2, alpha=alpha, temporal_unit=temporal_unit)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    module = HierarchicalContrastiveLoss(alpha=alpha, temporal_unit=temporal_unit)
    assert module(z1, z2).item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_single_levels_by_hand():
    # Two series, one timestamp, orthogonal unit vectors: every score is 0 or 1.
    z1 = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)
    z2 = z1.clone()
    # Anchor z1[0]: positive z2[0] (score 1), negatives z2[1], z1[1] (score 0 each).
    expected = -math.log(math.e / (math.e + 2))
    assert instance_contrastive_loss(z1, z2).item() == pytest.approx(expected)
    assert temporal_contrastive_loss(z1, z2).item() == 0.0  # one timestamp: no temporal negatives
    # T = 1: a single level holding only the instance term, weighted by alpha.
    assert hierarchical_contrastive_loss(z1, z2, alpha=0.5).item() == pytest.approx(0.5 * expected)


def test_pyramid_has_floor_log2_t_plus_one_levels():
    # With z1 == z2 == 0 every anchor sees equal scores: instance loss log(2B - 1) and temporal
    # loss log(2T_d - 1) at level d, so the mean over levels can be written down.
    batch, steps = 3, 11  # levels of 11, 5, 2, 1 timestamps
    zeros = torch.zeros(batch, steps, 4, dtype=torch.float64)
    lengths = [11, 5, 2, 1]
    terms = [0.5 * math.log(2 * batch - 1) + (0.5 * math.log(2 * t - 1) if t > 1 else 0.0)
             for t in lengths]  # fmt: skip
    loss = hierarchical_contrastive_loss(zeros, zeros)
    assert loss.item() == pytest.approx(sum(terms) / len(terms))


def test_gradcheck_float64():
    z1 = make(2, 3, 5, 2).requires_grad_(True)
    z2 = make(3, 3, 5, 2).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: hierarchical_contrastive_loss(a, b, alpha=0.4), (z1, z2), eps=1e-6, atol=1e-6
    )


def test_low_precision_inputs_give_a_float32_loss_under_autocast():
    z1 = (20 * make(4, 4, 6, 8)).to(torch.bfloat16)  # dot products of ~3000: fine in float32
    z2 = z1 + 0.1
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = hierarchical_contrastive_loss(z1, z2)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = hierarchical_contrastive_loss(z1.double(), z2.double())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize(
    ("z1", "z2", "options", "message"),
    [
        (torch.zeros(2, 5), torch.zeros(2, 5), {}, r"z1 must be 3-D"),
        (torch.zeros(2, 5, 3), torch.zeros(2, 4, 3), {}, r"same overlap.*\(2, 5, 3\).*\(2, 4, 3\)"),
        (torch.zeros(2, 5, 3, dtype=torch.long), torch.zeros(2, 5, 3), {}, "floating-point"),
        (torch.full((2, 5, 3), float("nan")), torch.zeros(2, 5, 3), {"validate": True}, "NaN"),
        (torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), {"alpha": 1.5}, r"alpha must be .*\[0, 1\]"),
        (torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), {"temporal_unit": -1}, "temporal_unit"),
    ],
)
def test_bad_inputs_raise_value_error(z1, z2, options, message):
    with pytest.raises(ValueError, match=message):
        hierarchical_contrastive_loss(z1, z2, **options)


def test_module_checks_its_options():
    with pytest.raises(ValueError, match="temporal_unit must be an integer"):
        HierarchicalContrastiveLoss(temporal_unit=0.5)  # type: ignore[arg-type]
    assert "alpha=0.25" in repr(HierarchicalContrastiveLoss(alpha=0.25))
