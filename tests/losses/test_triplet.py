"""Triplet loss and triplet mining against explicit loops over (anchor, positive, negative)."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.distances import CosineSimilarity, Distance, EuclideanDistance
from contrastlab.losses.mining import (
    batch_all_triplets,
    batch_hard_triplets,
    semi_hard_triplets,
    valid_triplet_mask,
)
from contrastlab.losses.triplet import (
    BatchTripletLoss,
    TripletLoss,
    batch_triplet_loss,
    triplet_loss,
)

MINING = ("batch_all", "batch_hard", "semi_hard")


def _dissimilarity_table(embeddings: torch.Tensor, similarity: bool) -> list[list[float]]:
    """d[i][j] from Python arithmetic: Euclidean, or minus the cosine similarity."""
    rows = embeddings.tolist()
    table = []
    for a in rows:
        row = []
        for b in rows:
            if similarity:
                dot = sum(x * y for x, y in zip(a, b, strict=True))
                norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
                row.append(-dot / norms)
            else:
                row.append(math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True))))
        table.append(row)
    return table


def _valid_triplets(labels: list[int]) -> list[tuple[int, int, int]]:
    n = len(labels)
    return [
        (a, p, q)
        for a in range(n)
        for p in range(n)
        for q in range(n)
        if a != p and labels[a] == labels[p] and labels[a] != labels[q]
    ]


def _reference_batch_all(d: list[list[float]], labels: list[int], margin: float) -> float:
    losses = [max(d[a][p] - d[a][q] + margin, 0.0) for a, p, q in _valid_triplets(labels)]
    positive = [loss for loss in losses if loss > 0]
    return sum(positive) / len(positive) if positive else 0.0


def _reference_batch_hard(d: list[list[float]], labels: list[int], margin: float) -> float:
    losses = []
    for a in range(len(labels)):
        positives = [d[a][p] for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [d[a][q] for q in range(len(labels)) if labels[q] != labels[a]]
        if positives and negatives:
            losses.append(max(max(positives) - min(negatives) + margin, 0.0))
    return sum(losses) / len(losses) if losses else 0.0


def _reference_semi_hard(
    d: list[list[float]], labels: list[int], margin: float
) -> list[tuple[int, int, int]]:
    triplets = []
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if a == p or labels[a] != labels[p]:
                continue
            semi_hard = [
                q
                for q in range(n)
                if labels[q] != labels[a] and d[a][p] < d[a][q] < d[a][p] + margin
            ]
            if semi_hard:
                triplets.append((a, p, min(semi_hard, key=lambda q: d[a][q])))
    return triplets


def _labelled_batch(seed: int, n: int = 12, dim: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=generator)
    return embeddings, labels


def _as_set(indices: tuple[torch.Tensor, ...]) -> set[tuple[int, ...]]:
    return set(zip(*(index.tolist() for index in indices), strict=True))


def test_explicit_triplets_closed_form() -> None:
    anchor = torch.zeros(3, 2)
    positive = torch.tensor([[1.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    negative = torch.tensor([[0.0, 2.0], [4.0, 0.0], [0.0, 0.5]])
    # d(a,p) - d(a,n) + 1: 1 - 2 + 1 = 0; 3 - 4 + 1 = 0; 0 - 0.5 + 1 = 0.5.
    per_triplet = triplet_loss(anchor, positive, negative, margin=1.0, reduction="none")
    torch.testing.assert_close(per_triplet, torch.tensor([0.0, 0.0, 0.5]))
    assert triplet_loss(anchor, positive, negative).item() == pytest.approx(0.5 / 3)
    assert triplet_loss(anchor, positive, negative, reduction="sum").item() == pytest.approx(0.5)


def test_explicit_triplets_with_a_similarity() -> None:
    anchor = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    positive = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    negative = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # max(s(a,n) - s(a,p) + 0.2, 0): 1 - 1/sqrt(2) + 0.2; 0 - 1 + 0.2 -> 0.
    result = triplet_loss(
        anchor, positive, negative, margin=0.2, distance=CosineSimilarity(), reduction="none"
    )
    torch.testing.assert_close(result, torch.tensor([1.2 - 2**-0.5, 0.0]))


def test_explicit_triplets_match_loop_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    anchor, positive, negative = torch.randn(3, 8, 4, generator=generator, dtype=torch.float64)
    expected = []
    for a, p, q in zip(anchor.tolist(), positive.tolist(), negative.tolist(), strict=True):
        to_p = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, p, strict=True)))
        to_n = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, q, strict=True)))
        expected.append(max(to_p - to_n + 0.5, 0.0))
    result = triplet_loss(anchor, positive, negative, margin=0.5, reduction="none")
    torch.testing.assert_close(result, torch.tensor(expected, dtype=torch.float64))


def test_miners_match_loop_references() -> None:
    embeddings, labels = _labelled_batch(seed=1)
    label_list = labels.tolist()
    d = _dissimilarity_table(embeddings, similarity=False)
    distances = EuclideanDistance().pairwise(embeddings, embeddings)
    assert _as_set(batch_all_triplets(labels)) == set(_valid_triplets(label_list))
    mask = valid_triplet_mask(labels)
    assert mask.shape == (12, 12, 12) and int(mask.sum()) == len(_valid_triplets(label_list))
    expected_hard = set()
    for a in range(12):
        positives = [p for p in range(12) if p != a and label_list[p] == label_list[a]]
        negatives = [q for q in range(12) if label_list[q] != label_list[a]]
        if positives and negatives:
            p = max(positives, key=lambda j: d[a][j])
            q = min(negatives, key=lambda j: d[a][j])
            expected_hard.add((a, p, q))
    assert _as_set(batch_hard_triplets(distances, labels)) == expected_hard
    semi_hard = _reference_semi_hard(d, label_list, margin=1.0)
    assert semi_hard, "the fixture should contain semi-hard triplets"
    assert _as_set(semi_hard_triplets(distances, labels, margin=1.0)) == set(semi_hard)


def test_miners_on_similarities_pick_the_largest_as_closest() -> None:
    embeddings, labels = _labelled_batch(seed=2)
    d = _dissimilarity_table(embeddings, similarity=True)
    similarities = CosineSimilarity().pairwise(embeddings, embeddings)
    expected = set(_reference_semi_hard(d, labels.tolist(), margin=0.5))
    assert expected
    found = semi_hard_triplets(similarities, labels, margin=0.5, larger_is_closer=True)
    assert _as_set(found) == expected
    hard = batch_hard_triplets(similarities, labels, larger_is_closer=True)
    assert _as_set(hard) == _as_set(batch_hard_triplets(-similarities, labels))


@pytest.mark.parametrize("similarity", [False, True])
def test_batch_all_and_batch_hard_match_loop_references(similarity: bool) -> None:
    embeddings, labels = _labelled_batch(seed=3)
    distance: Distance = CosineSimilarity() if similarity else EuclideanDistance()
    margin = 0.3 if similarity else 1.0
    d = _dissimilarity_table(embeddings, similarity)
    label_list = labels.tolist()
    batch_all = batch_triplet_loss(embeddings, labels, margin, distance, mining="batch_all")
    assert batch_all.item() == pytest.approx(_reference_batch_all(d, label_list, margin), rel=1e-9)
    batch_hard = batch_triplet_loss(embeddings, labels, margin, distance, mining="batch_hard")
    expected_hard = _reference_batch_hard(d, label_list, margin)
    assert batch_hard.item() == pytest.approx(expected_hard, rel=1e-9)


def test_semi_hard_loss_matches_loop_reference() -> None:
    embeddings, labels = _labelled_batch(seed=4)
    d = _dissimilarity_table(embeddings, similarity=False)
    triplets = _reference_semi_hard(d, labels.tolist(), margin=1.0)
    expected = sum(d[a][p] - d[a][q] + 1.0 for a, p, q in triplets) / len(triplets)
    result = batch_triplet_loss(embeddings, labels, margin=1.0, mining="semi_hard")
    assert result.item() == pytest.approx(expected, rel=1e-9)


def test_batch_all_reductions() -> None:
    embeddings, labels = _labelled_batch(seed=5)
    per_triplet = batch_triplet_loss(embeddings, labels, mining="batch_all", reduction="none")
    anchor, positive, negative = batch_all_triplets(labels)
    explicit = triplet_loss(
        embeddings[anchor], embeddings[positive], embeddings[negative], reduction="none"
    )
    torch.testing.assert_close(per_triplet, explicit)
    total = batch_triplet_loss(embeddings, labels, mining="batch_all", reduction="sum")
    torch.testing.assert_close(total, explicit.sum())
    mean = batch_triplet_loss(embeddings, labels, mining="batch_all")
    torch.testing.assert_close(mean, explicit.sum() / (explicit > 0).sum())


@pytest.mark.parametrize("mining", MINING)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_batch_losses_are_permutation_invariant(mining: str, reduction: str) -> None:
    embeddings, labels = _labelled_batch(seed=6, n=14)
    order = torch.randperm(14, generator=torch.Generator().manual_seed(7))
    original = batch_triplet_loss(embeddings, labels, mining=mining, reduction=reduction)
    permuted = batch_triplet_loss(
        embeddings[order], labels[order], mining=mining, reduction=reduction
    )
    assert original.item() > 0
    torch.testing.assert_close(original, permuted)


@pytest.mark.parametrize("mining", MINING)
@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], [5]], ids=["one", "all", "single"])
def test_no_valid_triplet_gives_zero_loss_and_zero_gradient(mining: str, labels: list[int]) -> None:
    embeddings = torch.linspace(-1.0, 2.0, 3 * len(labels)).reshape(-1, 3).requires_grad_(True)
    loss = batch_triplet_loss(embeddings, torch.tensor(labels), mining=mining)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(8)
    anchor, positive, negative = torch.randn(3, 5, 3, generator=generator, dtype=torch.float64)
    inputs = tuple(t.clone().requires_grad_(True) for t in (anchor, positive, negative))
    assert torch.autograd.gradcheck(lambda a, p, q: triplet_loss(a, p, q, margin=2.0), inputs)
    embeddings, labels = _labelled_batch(seed=9, n=8)
    embeddings.requires_grad_(True)
    for mining in MINING:
        assert torch.autograd.gradcheck(
            lambda e, mining=mining: batch_triplet_loss(e, labels, 1.0, mining=mining),
            (embeddings,),
        )


def test_identical_embeddings_give_finite_gradients() -> None:
    embeddings = torch.ones(6, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    for mining in MINING:
        batch_triplet_loss(embeddings, labels, mining=mining).backward()
        assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()


def test_modules_match_functions() -> None:
    embeddings, labels = _labelled_batch(seed=10)
    for mining in MINING:
        module = BatchTripletLoss(margin=0.7, mining=mining)
        torch.testing.assert_close(
            module(embeddings, labels), batch_triplet_loss(embeddings, labels, 0.7, mining=mining)
        )
    a, p, q = embeddings[:4], embeddings[4:8], embeddings[8:]
    torch.testing.assert_close(TripletLoss(margin=0.7)(a, p, q), triplet_loss(a, p, q, 0.7))


def test_bad_inputs_raise_value_errors() -> None:
    embeddings, labels = _labelled_batch(seed=11, n=6)
    a, p, q = embeddings[:2], embeddings[2:4], embeddings[4:]
    with pytest.raises(ValueError, match="anchor must be 2-D"):
        triplet_loss(a[0], p, q)
    with pytest.raises(ValueError, match="positive must have the anchor's shape"):
        triplet_loss(a, p[:1], q)
    with pytest.raises(ValueError, match="negative must have the anchor's shape"):
        triplet_loss(a, p, q[:, :2])
    with pytest.raises(ValueError, match="negative contains NaN or inf"):
        triplet_loss(a, p, torch.full_like(q, float("nan")), validate=True)
    with pytest.raises(ValueError, match="anchor is empty"):
        triplet_loss(a[:0], p[:0], q[:0])
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(a, p, q, margin=-0.1)
    with pytest.raises(ValueError, match="labels has 5 entries but the batch has 6"):
        batch_triplet_loss(embeddings, labels[:5])
    with pytest.raises(ValueError, match="labels must have an integer dtype"):
        batch_triplet_loss(embeddings, labels.float())
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        batch_triplet_loss(embeddings[None], labels)
    with pytest.raises(ValueError, match="embeddings contains NaN or inf"):
        batch_triplet_loss(torch.full_like(embeddings, float("inf")), labels, validate=True)
    with pytest.raises(ValueError, match="embeddings is empty"):
        batch_triplet_loss(embeddings[:0], labels[:0])
    with pytest.raises(ValueError, match="mining"):
        batch_triplet_loss(embeddings, labels, mining="hardest")
    with pytest.raises(ValueError, match="mining"):
        BatchTripletLoss(mining=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        TripletLoss(reduction="avg")
    with pytest.raises(ValueError, match="distances must be a square"):
        batch_hard_triplets(torch.zeros(3, 4), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="labels has 2 entries"):
        semi_hard_triplets(torch.zeros(3, 3), torch.tensor([0, 1]), margin=1.0)


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard", "semi_hard"])
def test_close_pairs_of_a_spread_batch_keep_their_gradient_in_float32(mining):
    # Far-apart points with one close pair: the |x|^2 + |y|^2 - 2 x.y expansion reads the close
    # pair's distance as 0 in float32 (and safe_sqrt then gives it no gradient).
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(6, 16, generator=generator) * 10
    embeddings[1] = embeddings[0] + 0.01
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    grads = []
    for dtype in (torch.float32, torch.float64):
        x = embeddings.detach().to(dtype).clone().requires_grad_(True)
        batch_triplet_loss(x, labels, margin=1000.0, mining=mining).backward()
        grads.append(x.grad.double())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-3)
