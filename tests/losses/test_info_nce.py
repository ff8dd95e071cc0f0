"""InfoNCE against an explicit per-query cross-entropy loop, for all three negative layouts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlab.losses import InfoNCE, info_nce


def slow_info_nce(query, positive, negatives_for, temperature):
    """negatives_for(i) -> list of negative key vectors of query i."""
    losses, correct = [], 0
    for i in range(query.shape[0]):
        q = F.normalize(query[i].double(), dim=0)
        positive_score = float(q @ F.normalize(positive[i].double(), dim=0)) / temperature
        negative_scores = [
            float(q @ F.normalize(n.double(), dim=0)) / temperature for n in negatives_for(i)
        ]
        denominator = math.exp(positive_score) + sum(math.exp(s) for s in negative_scores)
        losses.append(-(positive_score - math.log(denominator)))
        correct += positive_score > max(negative_scores)
    return sum(losses) / len(losses), correct / len(losses)


def make(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("layout", ["in-batch", "shared", "per-query"])
def test_matches_slow_reference(layout):
    query, positive = make(0, 9, 6), make(1, 9, 6)
    query = query + 0.8 * positive  # some queries pick their positive, some don't
    if layout == "in-batch":
        negatives = None
        negatives_for = lambda i: [positive[j] for j in range(9) if j != i]  # noqa: E731
    elif layout == "shared":
        negatives = make(2, 13, 6)
        negatives_for = lambda i: list(negatives)  # noqa: E731
    else:
        negatives = make(3, 9, 4, 6)
        negatives_for = lambda i: list(negatives[i])  # noqa: E731
    expected_loss, expected_accuracy = slow_info_nce(query, positive, negatives_for, 0.2)
    loss, accuracy = info_nce(query, positive, negatives, temperature=0.2, return_accuracy=True)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-10)
    assert accuracy.item() == pytest.approx(expected_accuracy)
    assert 0.0 < expected_accuracy < 1.0


def test_per_query_reduction_and_module():
    query, positive = make(4, 5, 3), make(5, 5, 3)
    per_query = info_nce(query, positive, reduction="none")
    assert per_query.shape == (5,)
    torch.testing.assert_close(per_query.mean(), InfoNCE(temperature=0.1)(query, positive))


@pytest.mark.parametrize("layout", ["in-batch", "shared", "per-query"])
def test_gradcheck_float64(layout):
    query = make(6, 5, 4).requires_grad_(True)
    positive = make(7, 5, 4).requires_grad_(True)
    negatives = {"in-batch": None, "shared": make(8, 6, 4), "per-query": make(9, 5, 3, 4)}[layout]
    inputs = (query, positive)
    if negatives is not None:
        inputs = (query, positive, negatives.requires_grad_())
    assert torch.autograd.gradcheck(lambda *x: info_nce(*x, temperature=0.3), inputs)


def test_exact_at_tiny_temperature_in_float32():
    query, positive = make(10, 8, 16).float(), make(11, 8, 16).float()
    loss32 = info_nce(query, positive, temperature=0.005)
    loss64 = info_nce(query.double(), positive.double(), temperature=0.005)
    assert torch.isfinite(loss32)
    assert loss32.item() == pytest.approx(loss64.item(), rel=1e-5)


def test_half_precision_under_autocast():
    query = make(12, 16, 32).half().requires_grad_(True)
    positive = make(13, 16, 32).half()
    with torch.autocast(device_type="cpu", dtype=torch.float16):
        loss = info_nce(query, positive, temperature=0.05)
    loss.backward()
    assert torch.isfinite(query.grad.float()).all()
    assert loss.item() == pytest.approx(
        info_nce(query.double(), positive.double(), temperature=0.05).item(), rel=1e-5
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((make(0, 4, 3), make(1, 4, 2)), "match query"),
        ((make(0, 4, 3), make(1, 4, 3), make(2, 5, 2, 3)), "negative_keys"),
        ((make(0, 4, 3), make(1, 4, 3), make(2, 5, 4)), "negative_keys"),
        ((make(0, 1, 3), make(1, 1, 3)), "at least 2"),
        ((make(0, 4), make(1, 4)), "2-D"),
    ],
)
def test_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        info_nce(*args)


@pytest.mark.parametrize("layout", ["in-batch", "shared", "per-query"])
def test_validate_rejects_non_finite_inputs(layout):
    query, positive = make(0, 4, 3), make(1, 4, 3)
    negatives = {"in-batch": None, "shared": make(2, 5, 3), "per-query": make(2, 4, 2, 3)}[layout]
    bad = (negatives if negatives is not None else positive).clone()
    bad.view(-1)[1] = float("nan")
    args = (query, positive, bad) if negatives is not None else (query, bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        info_nce(*args, validate=True)
    with pytest.raises(ValueError, match="NaN or inf"):
        InfoNCE(validate=True)(*args)
    assert torch.isnan(info_nce(*args))  # unchecked: the NaN propagates, no host read
