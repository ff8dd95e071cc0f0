"""model.pt's calibration (fitted with the training views' nuisances) and its judgement of window
sets, on the small simulated model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from bearing_fixtures import SIM_WINDOW

from contrastlab.config.signal import BearingConfig
from contrastlab.data.bearing_sim import simulate_bearing_dataset
from contrastlab.data.signal_views import speed_change
from contrastlab.data.splits import LabeledTensors
from contrastlab.evaluation.bearing_model import calibrate_ood, judge_classifier
from contrastlab.evaluation.ood import decide_windows
from contrastlab.evaluation.window_outputs import classify_windows
from contrastlab.models.diagnosis_model import load_diagnosis_model


def _splits():
    return simulate_bearing_dataset(
        n_samples=24_000, window_length=SIM_WINDOW, stride=512, label_scheme="4class", seed=3
    )


def _flagged(classifier, detector, inputs: torch.Tensor) -> float:
    outputs = classify_windows(classifier, inputs)
    decisions = decide_windows(detector.scores(outputs.embeddings), outputs.confidences, detector)
    return float((~decisions.in_distribution).double().mean())


def test_views_in_the_calibration_accept_speed_changes_the_model_ignores(sim_model: Path):
    classifier = load_diagnosis_model(sim_model).classifier
    splits = _splits()
    config = BearingConfig(source="bearing-sim", speed_change=0.03, tilt_db=3.0)
    with_views = calibrate_ood(classifier, splits, config)
    plain = calibrate_ood(classifier, splits, dataclasses.replace(config, augment=False))
    assert calibrate_ood(classifier, splits, config).score_threshold == with_views.score_threshold
    torch.manual_seed(0)
    faster = speed_change(splits.test.inputs, 0.03)  # another load's speed, within the views
    assert _flagged(classifier, with_views, faster) < _flagged(classifier, plain, faster)
    noise = torch.randn(40, 1, SIM_WINDOW)
    assert _flagged(classifier, with_views, noise) == 1.0


def test_judgement_of_window_sets(sim_model: Path):
    classifier = load_diagnosis_model(sim_model).classifier
    splits = _splits()
    detector = calibrate_ood(classifier, splits, BearingConfig(source="bearing-sim"))
    faults_only = LabeledTensors(splits.test.inputs[splits.test.labels > 0],
                                 splits.test.labels[splits.test.labels > 0])  # fmt: skip
    judged = judge_classifier(
        classifier, detector, {"test": splits.test, "faults": faults_only},
        splits.class_names, batch_size=16,
    )  # fmt: skip
    outputs = classify_windows(classifier, splits.test.inputs)
    correct = (outputs.predictions == splits.test.labels).double().mean()
    assert judged["test"]["accuracy"] == pytest.approx(float(100 * correct))
    assert judged["test"]["normal_windows"] == int((splits.test.labels == 0).sum())
    normal_called_faulty = (outputs.predictions[splits.test.labels == 0] != 0).double().mean()
    assert judged["test"]["false_alarm_rate"] == pytest.approx(float(normal_called_faulty))
    assert judged["faults"]["false_alarm_rate"] is None and judged["faults"]["windows"] == len(
        faults_only
    )
