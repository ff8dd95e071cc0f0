"""``pretrain --dataset folder`` streamed from disk, end to end, on generated image files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contrastlab.cli import main
from contrastlab.training.checkpoint import load_checkpoint
from image_files import write_images

STREAM = [
    *("--dataset", "folder", "--size", "8", "--model", "smallcnn", "--feat_dim", "16"),
    *("--batch_size", "16", "--epochs", "1", "--in_memory_mb", "0", "--no-progress"),
    *("--learning_rate", "0.05", "--no-warm", "--threads", "1"),
]  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """60 labelled images and one corrupt file."""
    root = write_images(tmp_path_factory.mktemp("stream") / "images", 60)
    (root / "dog" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff this is no jpeg")
    return root


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("workers", ["0", "1"])
@pytest.mark.parametrize(("method", "labels"), [("supcon", "folders"), ("simclr", "none")])
def test_a_streamed_epoch_runs_end_to_end(
    images: Path, tmp_path: Path, workers: str, method: str, labels: str
) -> None:
    out = tmp_path / "run"
    options = ["--method", method, "--labels", labels, "--workers", workers]
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\) .*corrupt\.jpg"):
        code = main(["pretrain", *STREAM, *options, "--data_folder", str(images),
                     "--on_bad_file", "skip", "--out", str(out)])  # fmt: skip
    assert code == 0
    result = summary(out)
    assert result["skipped_files"] == [str(images / "dog" / "corrupt.jpg")]
    assert np.isfinite(result["final_loss"])
    checkpoint = load_checkpoint(out / "last.pth")
    spec = checkpoint["model_spec"]
    assert spec["streamed"] and spec["labels"] == labels and checkpoint["epoch"] == 1
    assert spec["class_names"] == (["cat", "dog", "eel"] if labels == "folders" else [])


def test_resume_continues_with_the_uninterrupted_order(images: Path, tmp_path: Path) -> None:
    common = [*STREAM, "--method", "simclr", "--workers", "0", "--data_folder", str(images),
              "--on_bad_file", "skip", "--seed", "3", "--lr_decay_rate", "1"]  # fmt: skip
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    with pytest.warns(UserWarning):
        assert main(["pretrain", *common, "--epochs", "2", "--out", str(straight)]) == 0
        assert main(["pretrain", *common, "--epochs", "1", "--out", str(resumed)]) == 0
        assert main(["pretrain", *common, "--epochs", "2", "--out", str(resumed),
                     "--resume", str(resumed / "last.pth")]) == 0  # fmt: skip
    a = load_checkpoint(straight / "last.pth")["model"]
    b = load_checkpoint(resumed / "last.pth")["model"]
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6) for k in a)


def test_eval_folder_drives_the_knn_monitor_and_linear(images: Path, tmp_path: Path) -> None:
    evaluation = write_images(tmp_path / "eval", 30, ("x", "y"))
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="corrupt"):
        code = main(["pretrain", *STREAM, "--method", "moco", "--moco_queue_size", "32",
                     "--labels", "none", "--workers", "0", "--data_folder", str(images),
                     "--on_bad_file", "skip", "--eval_folder", str(evaluation), "--linear",
                     "--linear_epochs", "2", "--knn_k", "5", "--out", str(out)])  # fmt: skip
    assert code == 0
    result = summary(out)
    assert 0 <= result["knn_val_top1"] <= 100 and 0 <= result["test_top1"] <= 100
    # linear on the checkpoint alone evaluates on the same evaluation folder and split
    again = tmp_path / "linear"
    assert main(["linear", "--ckpt", str(out / "last.pth"), "--epochs", "2", "--no-progress",
                 "--out", str(again)]) == 0  # fmt: skip
    assert summary(again)["test_top1"] == pytest.approx(result["test_top1"])


def _refused(capsys, tmp_path: Path, *options: str) -> str:
    out = tmp_path / "refused"
    assert main(["pretrain", *STREAM, *options, "--out", str(out)]) == 2
    assert not out.exists()  # nothing written
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    return error


def test_bad_folders_are_one_line_errors_and_write_nothing(
    images: Path, tmp_path: Path, capsys
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    error = _refused(capsys, tmp_path, "--data_folder", str(empty), "--method", "simclr",
                     "--labels", "none")  # fmt: skip
    assert "no image files under" in error
    one_class = write_images(tmp_path / "one", 4, ("only",))
    assert "one class folder" in _refused(capsys, tmp_path, "--data_folder", str(one_class))
    text = tmp_path / "text" / "a"
    text.mkdir(parents=True)
    (text / "notes.txt").write_text("hello")
    (tmp_path / "text" / "b").mkdir()
    (tmp_path / "text" / "b" / "more.csv").write_text("1,2")
    assert "holds no image files" in _refused(
        capsys, tmp_path, "--data_folder", str(tmp_path / "text")
    )
    error = _refused(capsys, tmp_path, "--data_folder", str(images), "--labels", "none")
    assert "supcon and --moco_supervised need class labels" in error
    error = _refused(capsys, tmp_path, "--data_folder", str(images), "--workers", "0")
    assert "cannot read image" in error and "corrupt.jpg" in error  # --on_bad_file error
    error = _refused(capsys, tmp_path, "--data_folder", str(images), "--linear",
                     "--on_bad_file", "skip", "--workers", "0")  # fmt: skip
    assert "--linear needs labelled evaluation images" in error
