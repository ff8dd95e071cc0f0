"""Fixtures shared by the pipeline tests: a small diagnosis model trained on simulated recordings,
and a small image checkpoint with a folder of images for ``embed`` and ``export``.

The model is what ``contrastlab bearing`` writes for the bearing simulator (4 classes: normal,
inner race, ball, outer race; SimCLR pretraining, linear probe): a few seconds of training, good
enough that simulated faults are named and unlike inputs are flagged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bearing_fixtures import SIM_WINDOW
from PIL import Image

from contrastlab.config.signal import BearingConfig
from contrastlab.models.image_network import build_pretrain_network, image_model_spec
from contrastlab.pipelines.bearing import run_bearing
from contrastlab.training.checkpoint import save_checkpoint

EMBED_MEAN, EMBED_STD = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]


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


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torch.nn.Module]:
    """A supcon checkpoint of a random small CNN (8x8 inputs, normalised by ``EMBED_MEAN`` /
    ``EMBED_STD``) and a labelled folder of 7 images of mixed sizes in classes a/ and b/."""
    root = tmp_path_factory.mktemp("image")
    metadata = {"in_channels": 3, "mean": EMBED_MEAN, "std": EMBED_STD}
    spec = image_model_spec("smallcnn", "cifar", "mlp", 16, 8, metadata, ["a", "b"], "folder",
                            None, 0)  # fmt: skip
    torch.manual_seed(0)
    network = build_pretrain_network(spec).eval()
    checkpoint = root / "last.pth"
    save_checkpoint(checkpoint, {"model": network.state_dict(), "model_spec": spec,
                                 "kind": "supcon", "config": {}})  # fmt: skip
    generator = np.random.default_rng(0)
    for index in range(7):
        folder = root / "images" / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = generator.integers(0, 256, (10 + index, 14, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    return checkpoint, root / "images", network
