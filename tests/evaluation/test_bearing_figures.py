"""The bearing figures' physics: defect frequencies at a shaft speed (by hand) and the defect line
each class excites."""

from __future__ import annotations

import pytest

from contrastlab.data.bearing_sim import BearingGeometry
from contrastlab.evaluation.bearing_figures import defect_frequencies, fault_marker


def test_defect_frequencies_by_hand() -> None:
    # SKF 6205 at 1797 rpm (29.95 Hz): BPFO 3.5848 x, BPFI 5.4152 x, BSF 2.3567 x.
    lines = defect_frequencies(1797 / 60)
    assert lines["shaft"] == 29.95
    assert lines["BPFO"] == pytest.approx(107.36, abs=0.01)
    assert lines["BPFI"] == pytest.approx(162.19, abs=0.01)
    assert lines["BSF"] == pytest.approx(70.58, abs=0.01)
    # A bearing with 10 balls of a quarter of the pitch diameter: BPFO = 5 fr (1 - 1/4).
    other = defect_frequencies(10.0, BearingGeometry(10, 10.0, 40.0))
    assert other["BPFO"] == 37.5 and other["BPFI"] == 62.5


@pytest.mark.parametrize(
    ("class_name", "marker"),
    [
        ("IR014", "BPFI"), ("inner_race", "BPFI"), ("OR021@6", "BPFO"), ("outer_race", "BPFO"),
        ("B007", "BSF"), ("ball", "BSF"), ("normal", None),
    ],
)  # fmt: skip
def test_fault_marker(class_name: str, marker: str | None) -> None:
    assert fault_marker(class_name) == marker
