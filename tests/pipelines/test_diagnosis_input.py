"""The speed check of ``contrastlab diagnose``: the training speeds widened by the tolerance of
the views, at its edges, and the cases with nothing to compare."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contrastlab.evaluation.diagnosis_input import speed_warning
from contrastlab.models.diagnosis_model import load_diagnosis_model


@pytest.fixture
def model(sim_model: Path):
    trained = load_diagnosis_model(sim_model)
    return dataclasses.replace(
        trained, training_rpm={"min": 1730.0, "max": 1797.0, "mean": 1760.0}, speed_tolerance=0.02
    )


@pytest.mark.parametrize(
    ("rpm", "warned"),
    [
        (1730 * 0.98, False), (1730 * 0.98 - 0.5, True), (1760.0, False),
        (1797 * 1.02, False), (1797 * 1.02 + 0.5, True), (None, False),
    ],
)  # fmt: skip
def test_speeds_inside_the_widened_range_pass(model, rpm: float | None, warned: bool) -> None:
    assert (speed_warning(model, rpm) is not None) is warned


def test_warning_names_the_distance_and_the_range(model) -> None:
    warning = speed_warning(model, 1500.0)
    assert warning == (
        "shaft speed 1500 rpm is 13.3% from the training speeds (1730-1797 rpm; the training "
        "views covered +-2.0%): the verdict may not hold at this speed"
    )
    unknown = dataclasses.replace(model, training_rpm=None)
    assert speed_warning(unknown, 1797.0) == (
        "model.pt stores no training shaft speed: 1797 rpm is not checked"
    )
