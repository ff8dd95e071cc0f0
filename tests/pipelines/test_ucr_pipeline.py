"""``contrastlab ucr``: TS2Vec's SVM protocol on known features, and the command end to end on
a bundled UCR set (skipped without the optional aeon extra)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from contrastlab.cli import main
from contrastlab.pipelines.ucr import HARD_MARGIN_C, SVM_C_GRID, svm_accuracy


def blobs(count: int, seed: int, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    features = torch.randn(count, 5, generator=generator) + shift * labels[:, None]
    return features, labels


def test_svm_separates_separable_features_with_a_cross_validated_c():
    train_x, train_y = blobs(60, 0, shift=6.0)
    test_x, test_y = blobs(40, 1, shift=6.0)
    accuracy, c = svm_accuracy(train_x, train_y, test_x, test_y)
    assert accuracy == 100.0 and c in SVM_C_GRID


def test_svm_uses_a_hard_margin_on_tiny_training_sets():
    train_x, train_y = blobs(8, 0, shift=6.0)  # 4 per class: no cross-validation (TS2Vec)
    test_x, test_y = blobs(20, 1, shift=6.0)
    accuracy, c = svm_accuracy(train_x, train_y, test_x, test_y)
    assert c == HARD_MARGIN_C and accuracy == 100.0


def test_svm_needs_two_classes():
    features, _ = blobs(10, 0, shift=0.0)
    with pytest.raises(ValueError, match="two classes"):
        svm_accuracy(features, torch.zeros(10, dtype=torch.long), features, torch.zeros(10))


def test_ucr_command_on_italy_power_demand(tmp_path: Path, capsys):
    pytest.importorskip("aeon")
    run_dir = tmp_path / "ucr"
    args = ["ucr", "--dataset", "ItalyPowerDemand", "--epochs", "3", "--probe_epochs", "5"]
    assert main([*args, "--no-tsne", "--no-progress", "--out", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert json.loads(capsys.readouterr().out) == summary
    assert summary["series"] == {"official_train": 67, "test": 1029, "length": 24, "classes": 2}
    assert 50 <= summary["svm"]["test_top1"] <= 100  # even 3 epochs beat chance on this set
    assert 0 <= summary["linear_probe"]["test_top1"] <= 100
    assert (run_dir / "last.pth").is_file() and (run_dir / "training_curves.png").is_file()
