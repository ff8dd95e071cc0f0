"""Margin contrastive loss (Hadsell et al. 2006) against loops, closed forms and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.distances import (
    CosineDistance,
    CosineSimilarity,
    EuclideanDistance,
    MahalanobisDistance,
    SquaredEuclideanDistance,
)
from contrastlab.losses.contrastive import (
    ContrastiveLoss,
    PairwiseContrastiveLoss,
    contrastive_loss,
    contrastive_loss_from_labels,
)


def _euclidean(a: list[float], b: list[float]) -> float:
    return math.sqrt(sum((ak - bk) ** 2 for ak, bk in zip(a, b, strict=True)))


def _pair_loss(distance: float, similar: bool, margin: float) -> float:
    return 0.5 * distance**2 if similar else 0.5 * max(0.0, margin - distance) ** 2


def _reference_pairs(
    x1: torch.Tensor, x2: torch.Tensor, y: torch.Tensor, margin: float, similar_label: int
) -> list[float]:
    return [
        _pair_loss(_euclidean(x1[i].tolist(), x2[i].tolist()), int(y[i]) == similar_label, margin)
        for i in range(x1.shape[0])
    ]


def _reference_all_pairs(embeddings: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    losses = []
    for i in range(embeddings.shape[0]):
        for j in range(i + 1, embeddings.shape[0]):
            distance = _euclidean(embeddings[i].tolist(), embeddings[j].tolist())
            losses.append(_pair_loss(distance, bool(labels[i] == labels[j]), margin))
    return sum(losses) / len(losses)


def _batch(seed: int, n: int = 12, dim: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x1 = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    x2 = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 2, (n,), generator=generator)
    return x1, x2, y


def test_closed_form_on_hand_made_pairs() -> None:
    x1 = torch.zeros(3, 2)
    x2 = torch.tensor([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])
    y = torch.tensor([0, 1, 1])  # similar at D = 5, dissimilar at D = 0.5, dissimilar at D = 5
    per_pair = contrastive_loss(x1, x2, y, margin=1.0, reduction="none")
    torch.testing.assert_close(per_pair, torch.tensor([12.5, 0.125, 0.0]))
    assert contrastive_loss(x1, x2, y).item() == pytest.approx((12.5 + 0.125) / 3)
    assert contrastive_loss(x1, x2, y, reduction="sum").item() == pytest.approx(12.625)


@pytest.mark.parametrize("similar_label", [0, 1])
def test_matches_loop_reference(similar_label: int) -> None:
    x1, x2, y = _batch(seed=0)
    expected = _reference_pairs(x1, x2, y, margin=2.0, similar_label=similar_label)
    result = contrastive_loss(x1, x2, y, margin=2.0, similar_label=similar_label, reduction="none")
    torch.testing.assert_close(result, torch.tensor(expected, dtype=torch.float64))


def test_the_two_label_conventions_agree_on_flipped_labels() -> None:
    x1, x2, y = _batch(seed=1)
    paper = contrastive_loss(x1, x2, y, margin=3.0)
    keras = contrastive_loss(x1, x2, 1 - y, margin=3.0, similar_label=1)
    torch.testing.assert_close(paper, keras)
    # And the convention matters: the same labels read the other way give another loss.
    assert not torch.allclose(paper, contrastive_loss(x1, x2, y, margin=3.0, similar_label=1))


def test_bool_labels_are_accepted() -> None:
    x1, x2, y = _batch(seed=2)
    torch.testing.assert_close(contrastive_loss(x1, x2, y.bool()), contrastive_loss(x1, x2, y))


def test_gradcheck_float64() -> None:
    x1, x2, y = _batch(seed=3, n=6, dim=3)
    x1.requires_grad_(True)
    x2.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: contrastive_loss(a, b, y, margin=2.5), (x1, x2))
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    assert torch.autograd.gradcheck(
        lambda e: contrastive_loss_from_labels(e, labels, margin=2.5), (x1,)
    )


def test_zero_distance_gives_finite_gradients() -> None:
    x1 = torch.tensor([[1.0, 2.0], [0.5, 0.5]], requires_grad=True)
    x2 = x1.detach().clone()
    contrastive_loss(x1, x2, torch.tensor([0, 1])).backward()
    assert x1.grad is not None and torch.isfinite(x1.grad).all()
    embeddings = torch.ones(4, 3, requires_grad=True)
    contrastive_loss_from_labels(embeddings, torch.tensor([0, 0, 1, 1])).backward()
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()


def test_from_labels_matches_loop_reference_and_explicit_pairs() -> None:
    generator = torch.Generator().manual_seed(4)
    embeddings = torch.randn(9, 3, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    result = contrastive_loss_from_labels(embeddings, labels, margin=2.0)
    assert result.item() == pytest.approx(_reference_all_pairs(embeddings, labels, 2.0), rel=1e-10)
    first, second = torch.triu_indices(9, 9, offset=1)
    explicit = contrastive_loss(
        embeddings[first],
        embeddings[second],
        (labels[first] != labels[second]).long(),
        margin=2.0,
        reduction="none",
    )
    per_pair = contrastive_loss_from_labels(embeddings, labels, margin=2.0, reduction="none")
    torch.testing.assert_close(per_pair, explicit)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_from_labels_is_permutation_invariant(reduction: str) -> None:
    generator = torch.Generator().manual_seed(5)
    embeddings = torch.randn(10, 4, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (10,), generator=generator)
    order = torch.randperm(10, generator=generator)
    original = contrastive_loss_from_labels(embeddings, labels, reduction=reduction)
    permuted = contrastive_loss_from_labels(embeddings[order], labels[order], reduction=reduction)
    torch.testing.assert_close(original, permuted)


def test_single_sample_batch_gives_zero_loss_and_zero_gradient() -> None:
    embeddings = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    loss = contrastive_loss_from_labels(embeddings, torch.tensor([0]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_pluggable_distances() -> None:
    x1 = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    x2 = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    y = torch.tensor([0, 1])
    # Cosine distance 1 for both pairs: similar -> 0.5 * 1; dissimilar, margin 1.5 -> 0.5 * 0.25.
    cosine = contrastive_loss(x1, x2, y, margin=1.5, distance=CosineDistance(), reduction="none")
    torch.testing.assert_close(cosine, torch.tensor([0.5, 0.125]))
    squared = contrastive_loss(x1, x2, y, distance=SquaredEuclideanDistance(), reduction="none")
    torch.testing.assert_close(squared, torch.tensor([0.5 * 2.0**2, 0.0]))
    mahalanobis = MahalanobisDistance(covariance=torch.diag(torch.tensor([4.0, 4.0])))
    scaled = contrastive_loss(x1, x2, y, margin=1.0, distance=mahalanobis, reduction="none")
    # D = sqrt(2) / 2 and sqrt(5) / 2.
    torch.testing.assert_close(scaled, torch.tensor([0.25, 0.0]))


def test_similarities_are_rejected_with_advice() -> None:
    x1, x2, y = _batch(seed=6)
    with pytest.raises(ValueError, match=r"needs a dissimilarity.*CosineDistance"):
        contrastive_loss(x1, x2, y, distance=CosineSimilarity())
    with pytest.raises(ValueError, match="needs a dissimilarity"):
        PairwiseContrastiveLoss(distance=CosineSimilarity())


def test_modules_match_functions_and_carry_the_distance() -> None:
    x1, x2, y = _batch(seed=7)
    module = ContrastiveLoss(margin=2.0, similar_label=1, reduction="sum")
    torch.testing.assert_close(
        module(x1, x2, y), contrastive_loss(x1, x2, y, 2.0, similar_label=1, reduction="sum")
    )
    labels = torch.arange(12) % 3
    torch.testing.assert_close(
        PairwiseContrastiveLoss(margin=2.0)(x1, labels),
        contrastive_loss_from_labels(x1, labels, margin=2.0),
    )
    with_buffer = ContrastiveLoss(distance=MahalanobisDistance(covariance=torch.eye(4)))
    assert "distance.cholesky_factor" in with_buffer.state_dict()
    assert with_buffer.to(torch.float64).distance.cholesky_factor.dtype == torch.float64
    assert isinstance(ContrastiveLoss().distance, EuclideanDistance)


def test_bad_inputs_raise_value_errors() -> None:
    x1, x2, y = _batch(seed=8, n=5, dim=3)
    cases: list[tuple[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = [
        ("x1 must be 2-D", (x1[0], x2, y)),
        ("x2 must be 2-D", (x1, x2[None], y)),
        ("same shape", (x1, x2[:4], y)),
        ("same shape", (x1, x2[:, :2], y)),
        ("y has 4 entries but the batch has 5", (x1, x2, y[:4])),
        ("y must contain only 0 and 1", (x1, x2, torch.tensor([0, 1, 2, 0, 1]))),
        ("y must contain only 0 and 1", (x1, x2, torch.tensor([0, -1, 1, 0, 1]))),
        ("x1 contains NaN or inf", (x1.clone().fill_(float("nan")), x2, y)),
        ("x2 contains NaN or inf", (x1, x2.clone().fill_(float("inf")), y)),
        ("x1 is empty", (x1[:0], x2[:0], y[:0])),
    ]
    for message, args in cases:
        with pytest.raises(ValueError, match=message):
            contrastive_loss(*args, validate=True)
    with pytest.raises(ValueError, match="margin"):
        contrastive_loss(x1, x2, y, margin=-1.0)
    with pytest.raises(ValueError, match="similar_label must be 0 or 1"):
        contrastive_loss(x1, x2, y, similar_label=2)
    with pytest.raises(ValueError, match="reduction"):
        contrastive_loss(x1, x2, y, reduction="max")
    with pytest.raises(ValueError, match="distance must be"):
        contrastive_loss(x1, x2, y, distance=torch.cdist)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="labels has 4 entries"):
        contrastive_loss_from_labels(x1, y[:4])
    with pytest.raises(ValueError, match="labels must have an integer dtype"):
        contrastive_loss_from_labels(x1, y.float())
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        contrastive_loss_from_labels(x1[None], y)
    with pytest.raises(ValueError, match="embeddings is empty"):
        contrastive_loss_from_labels(x1[:0], y[:0])
    for bad_label in (True, 0.0, "0"):
        with pytest.raises(ValueError, match="similar_label"):
            ContrastiveLoss(similar_label=bad_label)  # type: ignore[arg-type]


def test_close_pair_of_a_spread_batch_is_exact_in_float32():
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(5, 16, generator=generator) * 10
    embeddings[1] = embeddings[0] + 0.01
    labels = torch.tensor([0, 0, 1, 2, 3])
    grads = []
    for dtype in (torch.float32, torch.float64):
        x = embeddings.detach().to(dtype).clone().requires_grad_(True)
        contrastive_loss_from_labels(x, labels, margin=1.0).backward()
        grads.append(x.grad.double())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-4)


def test_float_pair_labels_as_pytorch_targets_usually_are() -> None:
    """y as float 0.0 / 1.0 gives the integer labels' loss; other values are refused when
    validated."""
    import pytest

    from contrastlab.losses import ContrastiveLoss

    generator = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(6, 3, generator=generator), torch.randn(6, 3, generator=generator)
    integer = torch.tensor([0, 1, 1, 0, 1, 0])
    loss = ContrastiveLoss(margin=2.0)
    assert torch.equal(loss(x1, x2, integer.float()), loss(x1, x2, integer))
    with pytest.raises(ValueError, match="only 0 and 1"):
        ContrastiveLoss(margin=2.0, validate=True)(x1, x2, torch.tensor([0.5, 1, 1, 0, 1, 0]))
