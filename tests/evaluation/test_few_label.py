"""Few-label protocol: stratified, nested, deterministic sampling; budgets and draws."""

from __future__ import annotations

import pytest
import torch

from contrastlab.evaluation.few_label import (
    run_few_label_protocol,
    sample_labeled_subset,
)

LABELS = torch.tensor([0] * 12 + [1] * 30 + [2] * 9 + [3] * 15)[
    torch.randperm(66, generator=torch.Generator().manual_seed(0))
]


@pytest.mark.parametrize("per_class", [1, 4, 9])
def test_stratified_and_deterministic(per_class: int) -> None:
    indices = sample_labeled_subset(LABELS, per_class, seed=3)
    assert indices.dtype == torch.int64
    assert indices.tolist() == sorted(set(indices.tolist()))  # ascending, no repeats
    assert torch.bincount(LABELS[indices]).tolist() == [per_class] * 4
    assert torch.equal(indices, sample_labeled_subset(LABELS, per_class, seed=3))


def test_seeds_differ_and_budgets_nest() -> None:
    draws = {tuple(sample_labeled_subset(LABELS, 4, seed=s).tolist()) for s in range(5)}
    assert len(draws) > 1
    small = set(sample_labeled_subset(LABELS, 2, seed=8).tolist())
    large = set(sample_labeled_subset(LABELS, 7, seed=8).tolist())
    assert small < large


def test_all_labels_and_errors() -> None:
    assert torch.equal(sample_labeled_subset(LABELS, None), torch.arange(66))
    with pytest.raises(ValueError, match="class 2 has 9 samples, fewer than per_class=10"):
        sample_labeled_subset(LABELS, 10)
    with pytest.raises(ValueError, match="per_class"):
        sample_labeled_subset(LABELS, 0)
    with pytest.raises(ValueError, match="integer dtype"):
        sample_labeled_subset(LABELS.float(), 1)


def test_protocol_with_a_pluggable_scorer() -> None:
    calls: list[tuple[int, ...]] = []

    def fit_and_score(indices: torch.Tensor, draw: int) -> float:
        calls.append(tuple(indices.tolist()))
        return float(len(indices) + len(calls) % 2)  # varies across draws

    results = run_few_label_protocol(LABELS, fit_and_score, (1, 3, None), n_draws=3, seed=0)
    assert list(results) == ["1", "3", "all"]
    assert [r["n_labeled"] for r in results.values()] == [4, 12, 66]
    assert len(calls) == 3 + 3 + 1  # the full budget is fitted once
    scores = results["1"]["scores"]
    assert scores == [5.0, 4.0, 5.0]
    assert results["1"]["mean"] == pytest.approx(14 / 3)
    assert results["1"]["std"] == pytest.approx(torch.tensor(scores).std().item())  # ddof = 1
    assert results["all"]["std"] == 0.0
    # Draw d uses seed + d for every budget: the 1-label subsets nest in the 3-label ones.
    for draw in range(3):
        assert set(calls[draw]) < set(calls[3 + draw])
    with pytest.raises(ValueError, match="duplicates"):
        run_few_label_protocol(LABELS, fit_and_score, (1, 1))
    with pytest.raises(ValueError, match="n_draws"):
        run_few_label_protocol(LABELS, fit_and_score, (1,), n_draws=0)


def test_several_scores_per_fit_get_their_own_statistics() -> None:
    draws_seen: list[int] = []
    reported: list[tuple[int, dict]] = []

    def fit_and_score(indices: torch.Tensor, draw: int) -> dict[str, float]:
        draws_seen.append(draw)
        return {"test": 50.0 + draw, "cross_load": 10.0 * (draw + 1)}

    results = run_few_label_protocol(
        LABELS, fit_and_score, (2, None), n_draws=2, seed=1,
        on_score=lambda n, scores: reported.append((n, scores)),
    )  # fmt: skip
    assert draws_seen == [0, 1, 0]
    assert results["2"]["scores"] == [50.0, 51.0] and results["2"]["mean"] == 50.5
    assert results["2"]["cross_load"]["scores"] == [10.0, 20.0]
    assert results["2"]["cross_load"]["mean"] == 15.0
    assert results["2"]["cross_load"]["std"] == pytest.approx(torch.tensor([10.0, 20.0]).std())
    assert results["all"]["cross_load"] == {"scores": [10.0], "mean": 10.0, "std": 0.0}
    assert [n for n, _ in reported] == [8, 8, 66]
