"""Fixtures shared by the pipeline tests: a small diagnosis model trained on simulated recordings.

The model is what ``contrastlab bearing`` writes for the bearing simulator (4 classes: normal,
inner race, ball, outer race; SimCLR pretraining, linear probe): a few seconds of training, good
enough that simulated faults are named and unlike inputs are flagged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bearing_fixtures import SIM_WINDOW

from contrastlab.config.signal import BearingConfig
from contrastlab.pipelines.bearing import run_bearing


@pytest.fixture(scope="session")
def sim_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``model.pt`` of a small bearing-sim run (4 classes, trained at 0 hp)."""
    run_dir = tmp_path_factory.mktemp("sim-model")
    config = BearingConfig(
        source="bearing-sim", label_scheme="4class", sim_samples=24_000,
        window_length=SIM_WINDOW, stride=512, epochs=8, batch_size=64, labels_per_class=[2],
        n_draws=1, finetune=False, baseline=False, plots=False, probe_epochs=60, test_load=1,
        progress=False, out=str(run_dir),
    )  # fmt: skip
    run_bearing(config)
    return run_dir / "model.pt"
