"""Siamese method: balanced real pairs with y = 0 similar / y = 1 dissimilar, margin loss on the
Euclidean distance, checked against a hand-written reference; training separates classes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods import SiameseMethod, balanced_pairs
from contrastlab.training.loop import fit


def expected_pair_count(labels: list[int]) -> int:
    """Slow reference: anchors with a same-class partner vs anchors with an other-class one."""
    with_positive = sum(
        1 for i, a in enumerate(labels) if any(b == a for j, b in enumerate(labels) if j != i)
    )
    with_negative = sum(1 for a in labels if any(b != a for b in labels))
    return min(with_positive, with_negative)


@pytest.mark.parametrize(
    "labels",
    [[0, 0, 1, 1, 1, 2], [0, 1, 2, 3, 3], [5, 5, 5, 5, 7, 7, 9], list(range(4)) * 3],
)
def test_pairs_are_balanced_real_and_follow_y0_similar(labels: list[int]):
    tensor = torch.tensor(labels)
    generator = torch.Generator().manual_seed(1)
    first, second, y = balanced_pairs(tensor, generator=generator)
    n_pairs = expected_pair_count(labels)
    assert first.shape == second.shape == y.shape == (2 * n_pairs,)
    assert int((y == 0).sum()) == int((y == 1).sum()) == n_pairs
    assert (first != second).all()  # real pairs: never a sample with itself
    same = tensor[first] == tensor[second]
    assert torch.equal(same, y == 0)  # Hadsell's convention: 0 = similar, 1 = dissimilar
    # each anchor appears at most once per kind
    for kind in (0, 1):
        anchors = first[y == kind]
        assert anchors.unique().numel() == anchors.numel()


def test_partners_are_drawn_at_random_among_valid_ones():
    labels = torch.tensor([0, 0, 0, 0, 1])
    partners = set()
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        first, second, y = balanced_pairs(labels, generator=generator)
        partners |= {int(s) for f, s, k in zip(first, second, y, strict=True) if f == 0 and k == 0}
    assert partners == {1, 2, 3}


@pytest.mark.parametrize("labels", [[3, 3, 3], [0, 1, 2], [4]])
def test_no_pairs_without_both_kinds(labels: list[int]):
    first, second, y = balanced_pairs(torch.tensor(labels))
    assert first.numel() == second.numel() == y.numel() == 0


def test_pairs_reject_float_labels():
    with pytest.raises(ValueError, match="integer"):
        balanced_pairs(torch.tensor([0.0, 1.0]))


def test_loss_matches_hand_reference():
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    inputs = torch.randn(10, 6)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    margin = 1.5
    method = SiameseMethod(margin=margin)
    torch.manual_seed(42)
    output = method(model, inputs, labels)
    torch.manual_seed(42)  # the same draw of pairs
    first, second, y = balanced_pairs(labels)
    embeddings = model(inputs).detach()
    terms = []
    for i, j, kind in zip(first.tolist(), second.tolist(), y.tolist(), strict=True):
        distance = float(torch.sqrt(((embeddings[i] - embeddings[j]) ** 2).sum()))
        terms.append(0.5 * distance**2 if kind == 0 else 0.5 * max(0.0, margin - distance) ** 2)
    assert output.loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    assert output.metrics["pairs"] == len(terms)
    assert output.batch_size == 10
    assert {"similar_distance", "dissimilar_distance", "pair_accuracy"} <= set(output.metrics)


def test_single_class_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="batch_size"):
        SiameseMethod()(nn.Linear(4, 2), torch.randn(6, 4), torch.zeros(6, dtype=torch.long))


def test_training_pulls_classes_together_and_pushes_them_apart(tmp_path):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(32)
    centres = torch.randn(4, 8, generator=generator) * 0.6
    inputs = centres[labels] + 0.3 * torch.randn(128, 8, generator=generator)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    config = TrainConfig(epochs=15, batch_size=32, learning_rate=0.05, progress=False)
    result = fit(model, SiameseMethod(margin=2.0), LabeledTensors(inputs, labels), config, tmp_path)
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < 0.5 * first["loss"]
    assert last["dissimilar_distance"] > 2 * last["similar_distance"]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "pair_accuracy" in records[-1] and records[-1]["pair_accuracy"] > 90
