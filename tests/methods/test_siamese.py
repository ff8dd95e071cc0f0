"""Siamese method: balanced real pairs with y = 0 similar / y = 1 dissimilar, margin loss on the
Euclidean distance, checked against a hand-written reference; training separates classes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods import SiameseMethod, random_partners
from contrastlab.training.loop import fit


@pytest.mark.parametrize(
    "labels",
    [[0, 0, 1, 1, 1, 2], [0, 1, 2, 3, 3], [5, 5, 5, 5, 7, 7, 9], list(range(4)) * 3, [3, 3, 3]],
)
def test_partners_are_real_and_of_the_right_kind(labels: list[int]):
    tensor = torch.tensor(labels)
    positive, has_positive, negative, has_negative = random_partners(
        tensor, generator=torch.Generator().manual_seed(1)
    )
    for i, label in enumerate(labels):  # slow reference: does a partner of each kind exist?
        same = [j for j, other in enumerate(labels) if other == label and j != i]
        assert bool(has_positive[i]) == bool(same)
        assert bool(has_negative[i]) == any(other != label for other in labels)
        if has_positive[i]:
            assert int(positive[i]) in same  # a real pair: never the sample itself
        if has_negative[i]:
            assert labels[int(negative[i])] != label


def test_partners_are_drawn_at_random_among_valid_ones():
    labels = torch.tensor([0, 0, 0, 0, 1])
    generator = torch.Generator().manual_seed(0)
    partners = {int(random_partners(labels, generator=generator)[0][0]) for _ in range(200)}
    assert partners == {1, 2, 3}


def test_partners_reject_float_labels():
    with pytest.raises(ValueError, match="integer"):
        random_partners(torch.tensor([0.0, 1.0]))


def test_loss_matches_hand_reference():
    """Half the mean loss of the similar pairs plus half that of the dissimilar ones, y = 0
    similar, on the partners drawn by the same random state."""
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    inputs = torch.randn(10, 6)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 4])  # 3 and 4: no same-class partner
    margin = 1.5
    torch.manual_seed(42)
    output = SiameseMethod(margin=margin)(model, inputs, labels)
    torch.manual_seed(42)  # the same draw of partners
    positive, has_positive, negative, _ = random_partners(labels)
    embeddings = model(inputs).detach()

    def distance(i: int, j: int) -> float:
        return float(torch.sqrt(((embeddings[i] - embeddings[j]) ** 2).sum()))

    similar = [0.5 * distance(i, int(positive[i])) ** 2 for i in range(10) if has_positive[i]]
    dissimilar = [0.5 * max(0.0, margin - distance(i, int(negative[i]))) ** 2 for i in range(10)]
    expected = 0.5 * sum(similar) / len(similar) + 0.5 * sum(dissimilar) / len(dissimilar)
    assert output.loss.item() == pytest.approx(expected, rel=1e-5)
    assert float(output.metrics["pairs"]) == len(similar) + len(dissimilar) == 18
    assert output.batch_size == 10
    assert {"similar_distance", "dissimilar_distance", "pair_accuracy"} <= set(output.metrics)


def test_a_step_never_waits_for_the_device():
    """As the training loop runs it (value checks off: the data was checked when loaded)."""
    from contrastlab._checks import value_checks
    from contrastlab._host_sync import HostSyncCounter

    model, labels = nn.Linear(6, 3), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    with HostSyncCounter() as syncs, value_checks(False):
        SiameseMethod()(model, torch.randn(8, 6), labels).loss.backward()
    assert syncs.count == 0, syncs.operations


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
