"""End to end: ``torchrun --nproc_per_node=2 -m contrastlab pretrain`` on CPU (gloo), then resumed.

Tiny settings (8x8 digits, SmallConvNet, 4 global batches of 2 x 128) so that each run takes
seconds; what is checked is the plumbing: the process group, SyncBN, one set of outputs written by
rank 0, one summary printed, and resume under DDP.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from processes import torchrun_contrastlab

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

OPTIONS = [
    "--dataset", "digits", "--model", "smallcnn", "--size", "8", "--batch_size", "128",
    "--learning_rate", "0.05", "--knn_every", "0", "--device", "cpu", "--no-progress",
    "--save_freq", "1", "--syncBN", "--method", "supcon",
]  # fmt: skip


def torchrun_pretrain(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return torchrun_contrastlab("pretrain", *OPTIONS, "--out", str(run_dir), *extra)


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, list[dict]]:
    run_dir = tmp_path_factory.mktemp("torchrun") / "run"
    result = torchrun_pretrain(run_dir, "--epochs", "1")
    return run_dir, result, metrics(run_dir)


def test_two_process_pretrain_writes_one_set_of_outputs(first_run):
    run_dir, result, records = first_run
    names = {path.name for path in run_dir.iterdir()}
    assert {"config.yaml", "last.pth", "ckpt_epoch_1.pth", "metrics.jsonl", "summary.json"} <= names
    assert {"training_curves.png", "tensorboard"} <= names
    assert not [name for name in names if name.endswith(".tmp")]
    assert [record["epoch"] for record in records] == [1]
    assert result.stdout.count('"method": "supcon"') == 1  # rank 1's summary is not printed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert torch.isfinite(torch.tensor(summary["final_loss"]))
    checkpoint = torch.load(run_dir / "last.pth", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["config"]["syncBN"] is True
    assert not any(key.startswith("module.") for key in checkpoint["model"])


def test_two_process_pretrain_resumes(first_run):
    run_dir, _, first_records = first_run
    torchrun_pretrain(run_dir, "--epochs", "2", "--resume", str(run_dir / "last.pth"))
    records = metrics(run_dir)
    assert [record["epoch"] for record in records] == [1, 2]
    assert records[0] == first_records[0]  # epoch 1 comes from the checkpoint's history
    assert torch.load(run_dir / "last.pth", weights_only=True)["epoch"] == 2
    assert (run_dir / "ckpt_epoch_2.pth").is_file()


def test_two_processes_stream_an_image_folder(tmp_path: Path) -> None:
    """A streamed folder under torchrun: each rank reads its own shard of every global batch;
    one set of outputs, and the epoch's batches add up to the folder."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "images"
    generator = np.random.default_rng(0)
    for index in range(48):
        folder = root / ("cat", "dog")[index % 2]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = generator.integers(0, 256, (20 + index % 7, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:02d}.png")
    run_dir = tmp_path / "run"
    result = torchrun_contrastlab(
        "pretrain", "--dataset", "folder", "--data_folder", str(root),
        "--in_memory_mb", "0", "--workers", "0", "--size", "8", "--model", "smallcnn",
        "--batch_size", "8", "--epochs", "1", "--method", "simclr", "--labels", "none",
        "--knn_every", "0", "--device", "cpu", "--no-progress", "--out", str(run_dir),
    )  # fmt: skip
    assert result.stdout.count('"method": "simclr"') == 1
    (record,) = metrics(run_dir)
    assert record["epoch"] == 1 and torch.isfinite(torch.tensor(record["loss"]))
    checkpoint = torch.load(run_dir / "last.pth", weights_only=True)
    assert checkpoint["model_spec"]["streamed"] and len(checkpoint["rng_per_rank"]) == 2
