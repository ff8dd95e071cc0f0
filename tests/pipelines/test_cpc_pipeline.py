"""``contrastlab cpc`` end to end on the bearing simulator (tiny configuration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from contrastlab.cli import main
from contrastlab.training.checkpoint import load_checkpoint


def test_cpc_command_pretrains_and_probes(tmp_path: Path, capsys):
    run_dir = tmp_path / "cpc"
    args = [
        "cpc", "--source", "bearing-sim", "--sim_samples", "6000", "--window_length", "512",
        "--stride", "256", "--epochs", "2", "--batch_size", "32", "--cpc_steps", "4",
        "--cpc_latent_dim", "16", "--cpc_context_dim", "16", "--probe_epochs", "5",
        "--no-progress", "--out", str(run_dir),
    ]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert printed == {k: v for k, v in summary.items() if k != "provenance"}
    assert summary["method"] == "cpc" and summary["input"] == "standardize"
    assert summary["spec"]["backbone"] == "cpc"
    assert set(summary["cpc_top1"]) == {"cpc_top1", *(f"cpc_top1_step{k}" for k in range(1, 5))}
    for key in ("linear_probe", "logistic_regression"):
        assert 0 <= summary[key]["test_top1"] <= 100
    assert (run_dir / "tsne_test.png").is_file() and (run_dir / "training_curves.png").is_file()
    checkpoint = load_checkpoint(run_dir / "last.pth")
    assert checkpoint["model_spec"]["backbone"] == "cpc"
    assert not any("predictors" in key for key in checkpoint["model"])  # the method's state
    assert any(key.startswith("criterion.predictors") for key in checkpoint["method"])
    assert isinstance(checkpoint["model"]["encoder.backbone.g_ar.weight_ih_l0"], torch.Tensor)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "cwru"], "--data"),
        (["--source", "bearing-sim", "--model", "mlp"], "cpc"),
        (["--source", "sound"], "--source"),
    ],
)
def test_bad_options_are_clear_errors(args, message, tmp_path, capsys):
    assert main(["cpc", *args, "--out", str(tmp_path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
