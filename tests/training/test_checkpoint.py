"""Checkpoints: atomic writes, safe loading, SupContrast compatibility, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from contrastlab.training.checkpoint import load_checkpoint, save_checkpoint, strip_module_prefix


def test_round_trip_keeps_tensors_and_plain_data(tmp_path: Path):
    state = {"model": {"w": torch.arange(3.0)}, "epoch": 4, "config": {"lr": 0.1, "tags": ["a"]}}
    path = save_checkpoint(tmp_path / "run" / "last.pth", state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], torch.arange(3.0))
    assert loaded["epoch"] == 4 and loaded["config"] == {"lr": 0.1, "tags": ["a"]}
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pth", {"model": {"w": torch.ones(2)}, "epoch": 1})

    def broken_save(obj, stream):
        stream.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]


def test_truncated_and_corrupt_files_give_a_clear_error(tmp_path: Path):
    good = save_checkpoint(tmp_path / "good.pth", {"model": {"w": torch.randn(64, 64)}})
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated, corrupt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_checkpoint(garbage)


def test_missing_file_and_non_checkpoint_content(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pth")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="expected a 'model' entry"):
        load_checkpoint(tmp_path / "other.pth")


class _Arbitrary:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_arbitrary_pickled_objects_are_refused(tmp_path: Path, capsys):
    torch.save({"model": {}, "payload": _Arbitrary()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="not plain data"):
        load_checkpoint(tmp_path / "evil.pth")
    assert "this must never run" not in capsys.readouterr().out


def test_supcontrast_checkpoint_loads(tmp_path: Path):
    # What SupContrast's save_model writes: opt is an argparse.Namespace and the encoder was
    # wrapped in DataParallel (encoder.module.*).
    opt = argparse.Namespace(model="resnet18", temp=0.1, head="mlp", feat_dim=128)
    state = {
        "opt": opt,
        "model": {"encoder.module.conv1.weight": torch.ones(1), "head.0.weight": torch.ones(2)},
        "optimizer": {"state": {}, "param_groups": []},
        "epoch": 1000,
    }
    torch.save(state, tmp_path / "supcon_last.pth")
    loaded = load_checkpoint(tmp_path / "supcon_last.pth")
    assert set(loaded["model"]) == {"encoder.conv1.weight", "head.0.weight"}
    assert loaded["config"] == {"model": "resnet18", "temp": 0.1, "head": "mlp", "feat_dim": 128}
    assert loaded["epoch"] == 1000


def test_strip_module_prefix_handles_ddp_and_dataparallel_names():
    names = strip_module_prefix(
        {"module.encoder.conv1.weight": 1, "encoder.module.bn1.bias": 2, "head.0.weight": 3}
    )
    assert names == {"encoder.conv1.weight": 1, "encoder.bn1.bias": 2, "head.0.weight": 3}
