"""OOD scoring: the score against the closed-form Mahalanobis distance, far points, the calibrated
false-out rate on fresh in-distribution samples, the decisions, and a weights_only round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from contrastlab.evaluation.ood import (
    OodDetector,
    decide_file,
    decide_windows,
    fit_class_gaussians,
    fit_ood_detector,
    ood_scores,
)

DIM = 4
MEANS = np.array([[0.0, 0.0, 0.0, 0.0], [6.0, 0.0, 2.0, 0.0], [0.0, -5.0, 0.0, 4.0]])


def covariance() -> np.ndarray:
    a = np.random.default_rng(7).standard_normal((DIM, DIM))
    return a @ a.T + 0.5 * np.eye(DIM)


def clusters(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` samples of each Gaussian N(MEANS[k], covariance()), float64, with labels."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(covariance())
    points = [m + rng.standard_normal((per_class, DIM)) @ chol.T for m in MEANS]
    labels = np.repeat(np.arange(len(MEANS)), per_class)
    return torch.from_numpy(np.concatenate(points)), torch.from_numpy(labels)


def nearest_mean_distance(points: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """The closed form ``min_k sqrt((x - mu_k)^T cov^{-1} (x - mu_k))``, by an explicit inverse."""
    precision = np.linalg.inv(cov)
    distances = [
        np.sqrt(np.einsum("nd,de,ne->n", points - m, precision, points - m)) for m in means
    ]
    return np.min(distances, axis=0)


def test_score_equals_the_closed_form_with_the_fitted_statistics() -> None:
    train, labels = clusters(200, seed=0)
    means, class_labels, factor = fit_class_gaussians(train, labels, shrinkage=0.0)
    x, y = train.numpy(), labels.numpy()
    expected_means = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    centred = x - expected_means[y]
    pooled = centred.T @ centred / len(x)  # the within-class maximum-likelihood covariance
    np.testing.assert_allclose(means.numpy(), expected_means, rtol=1e-12)
    np.testing.assert_allclose((factor @ factor.T).numpy(), pooled, rtol=1e-10, atol=1e-12)
    assert class_labels == [0, 1, 2]
    queries, _ = clusters(50, seed=1)
    queries = queries + torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    np.testing.assert_allclose(
        ood_scores(queries, means, factor).numpy(),
        nearest_mean_distance(queries.numpy(), expected_means, pooled),
        rtol=1e-9,
    )


def test_with_many_samples_the_score_approaches_the_true_distance() -> None:
    train, labels = clusters(20_000, seed=2)
    means, _, factor = fit_class_gaussians(train, labels)  # Ledoit-Wolf: ~0 at this N
    queries = torch.from_numpy(np.random.default_rng(3).normal(0, 4, (200, DIM)))
    true = nearest_mean_distance(queries.numpy(), MEANS, covariance())
    np.testing.assert_allclose(ood_scores(queries, means, factor).numpy(), true, rtol=0.03)


def test_shrinkage_is_applied() -> None:
    train, labels = clusters(20, seed=4)
    _, _, factor = fit_class_gaussians(train, labels, shrinkage=1.0)
    full = factor @ factor.T  # delta = 1: the scaled identity trace(S) / D * I
    assert torch.allclose(full, torch.diag(full).mean() * torch.eye(DIM, dtype=full.dtype))


def test_far_points_score_high_and_means_score_zero() -> None:
    train, labels = clusters(500, seed=5)
    held_out, _ = clusters(500, seed=6)
    confidences = torch.full((len(held_out),), 0.9, dtype=torch.float64)
    detector = fit_ood_detector(train, labels, held_out, confidences)
    far = torch.from_numpy(MEANS[1] + 25.0 * np.eye(DIM))
    assert bool((detector.scores(far) > 3 * detector.score_threshold).all())
    at_means = detector.scores(detector.class_means)
    assert torch.allclose(at_means, torch.zeros(3, dtype=torch.float64), atol=1e-6)
    windows = decide_windows(detector.scores(far), torch.full((DIM,), 0.99), detector)
    assert not bool(windows.in_distribution.any()) and bool(windows.doubtful.all())


@pytest.mark.parametrize("quantile", [0.99, 0.9])
def test_calibrated_false_out_rate_on_fresh_samples(quantile: float) -> None:
    train, labels = clusters(1000, seed=8)
    held_out, _ = clusters(2000, seed=9)  # 6000 held-out windows
    confidences = torch.from_numpy(np.random.default_rng(10).uniform(0.3, 1.0, len(held_out)))
    detector = fit_ood_detector(train, labels, held_out, confidences, score_quantile=quantile)
    fresh, _ = clusters(15_000, seed=11)  # 45000 fresh in-distribution windows
    false_out = float((detector.scores(fresh) > detector.score_threshold).double().mean())
    # Sampling error of a quantile from 6000 windows: sqrt(q (1 - q) / 6000) <= 0.004.
    assert false_out == pytest.approx(1 - quantile, abs=0.01 if quantile == 0.9 else 0.004)
    assert detector.confidence_threshold == pytest.approx(np.quantile(confidences.numpy(), 0.01))


def test_window_and_file_decisions() -> None:
    train, labels = clusters(50, seed=12)
    detector = fit_ood_detector(train, labels, train, torch.full((150,), 0.8, dtype=torch.float64))
    threshold, confident = detector.score_threshold, detector.confidence_threshold
    scores = torch.tensor([0.5, 2.0, 0.5, 0.5, 0.5], dtype=torch.float64) * threshold
    confidences = torch.tensor([0.9, 0.9, confident - 0.1, confident, 0.9], dtype=torch.float64)
    windows = decide_windows(scores, confidences, detector)
    assert windows.in_distribution.tolist() == [True, False, True, True, True]
    assert windows.confident.tolist() == [True, True, False, True, True]
    assert windows.doubtful.tolist() == [False, True, True, False, False]
    trusted = decide_file(scores, confidences, detector)
    assert not trusted.uncertain and trusted.doubtful_fraction == pytest.approx(0.4)
    assert trusted.out_of_distribution_fraction == pytest.approx(0.2)
    assert trusted.low_confidence_fraction == pytest.approx(0.2)
    # "Most" is strictly more than half: 2 doubtful of 4 is not uncertain, 3 of 5 is.
    assert not decide_file(scores[:4], confidences[:4], detector).uncertain
    scores[3] = 3 * threshold  # a third doubtful window, out of distribution
    assert decide_file(scores, confidences, detector).uncertain
    # A window both out of distribution and unconfident counts once.
    both = decide_file(torch.tensor([3.0, 0.1]) * threshold, torch.tensor([0.0, 0.9]), detector)
    assert both.doubtful_fraction == 0.5 and not both.uncertain


def test_round_trip_through_weights_only_load() -> None:
    train, labels = clusters(100, seed=13)
    held_out, _ = clusters(100, seed=14)
    detector = fit_ood_detector(
        train.float(),
        labels,
        held_out.float(),
        torch.rand(300, generator=torch.Generator().manual_seed(0)),
    )
    buffer = io.BytesIO()
    torch.save({"format": "contrastlab-diagnosis-1", "ood": detector.to_dict()}, buffer)
    buffer.seek(0)
    loaded = OodDetector.from_dict(torch.load(buffer, weights_only=True)["ood"])
    assert loaded.score_threshold == detector.score_threshold
    assert loaded.class_labels == [0, 1, 2] and loaded.shrinkage == "ledoit_wolf"
    queries, _ = clusters(10, seed=15)
    torch.testing.assert_close(loaded.scores(queries), detector.scores(queries), rtol=0, atol=0)
    state = detector.to_dict()
    with pytest.raises(ValueError, match="not a contrastlab OOD detector state"):
        OodDetector.from_dict({"class_means": state["class_means"]})
    with pytest.raises(ValueError, match=r"lacks \['score_threshold'\]"):
        OodDetector.from_dict({k: v for k, v in state.items() if k != "score_threshold"})
    with pytest.raises(ValueError, match="inconsistent OOD detector state"):
        OodDetector.from_dict({**state, "class_labels": [0, 1]})


def test_bad_inputs() -> None:
    train, labels = clusters(10, seed=16)
    confidences = torch.full((30,), 0.5, dtype=torch.float64)
    with pytest.raises(ValueError, match="score_quantile must be a number in"):
        fit_ood_detector(train, labels, train, confidences, score_quantile=1.0)
    with pytest.raises(ValueError, match="confidences must be probabilities"):
        fit_ood_detector(train, labels, train, confidences + 1)
    with pytest.raises(ValueError, match="got 29 confidences for 30 windows"):
        fit_ood_detector(train, labels, train, confidences[:29])
    with pytest.raises(ValueError, match="labels has 29 entries"):
        fit_class_gaussians(train, labels[:29])
    with pytest.raises(ValueError, match="at least 2 embeddings"):
        fit_class_gaussians(train[:1], labels[:1])
    detector = fit_ood_detector(train, labels, train, confidences)
    with pytest.raises(
        ValueError, match="embeddings have 3 features, the detector was fitted on 4"
    ):
        detector.scores(train[:, :3])
    with pytest.raises(ValueError, match="max_doubtful_fraction must be in"):
        decide_file(detector.scores(train), confidences, detector, max_doubtful_fraction=1.0)
    with pytest.raises(ValueError, match="contains NaN"):
        detector.scores(torch.full((2, DIM), float("nan")))
