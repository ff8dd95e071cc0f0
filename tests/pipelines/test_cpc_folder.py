"""``contrastlab cpc --source folder`` end to end on small generated folders of .npy / .csv / .wav
recordings: labelled (probes), unlabelled (encoder and summary only), a bad file skipped with a
warning, and bad data refused in one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from contrastlab.cli import main
from contrastlab.training.checkpoint import load_checkpoint

RATE = 1000
TINY = ["--window_length", "128", "--stride", "64", "--epochs", "1", "--batch_size", "16",
        "--cpc_steps", "2", "--cpc_latent_dim", "8", "--cpc_context_dim", "8",
        "--probe_epochs", "3", "--no-progress"]  # fmt: skip


def tone(seed: int, n_samples: int = 1200) -> np.ndarray:
    """A tone whose frequency depends on ``seed``, plus noise (passes the recording checks)."""
    rng = np.random.default_rng(seed)
    times = np.arange(n_samples) / RATE
    return np.sin(2 * np.pi * (20 + 15 * (seed % 2)) * times) + 0.3 * rng.standard_normal(n_samples)


def write(path: Path, values: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, values)
    elif path.suffix == ".csv":
        path.write_text("\n".join(repr(float(v)) for v in values) + "\n")
    else:
        scipy.io.wavfile.write(path, rate, values.astype(np.float32))


def labelled_tree(root: Path) -> Path:
    """``root/<class>/<file>``: one .npy, .csv and .wav recording per class."""
    for label, name in enumerate(("fault", "healthy")):
        for index, suffix in enumerate((".npy", ".csv", ".wav")):
            write(root / name / f"run{index}{suffix}", tone(2 * index + label))
    return root


def cpc(root: Path, out: Path, *options: str) -> int:
    return main(["cpc", "--source", "folder", "--data", str(root), "--out", str(out),
                 *TINY, *options])  # fmt: skip


def test_labelled_folder_pretrains_and_probes(tmp_path: Path, capsys) -> None:
    root = labelled_tree(tmp_path / "recordings")
    np.save(root / "healthy" / "batch.npy", np.ones((4, 300)))  # a 2-D array: a bad file
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipped 1 of 7 recordings .*healthy/batch.npy"):
        assert cpc(root, out, "--sample_rate_hz", str(RATE), "--on_bad_file", "skip") == 0
    summary = json.loads((out / "summary.json").read_text())
    printed = json.loads(capsys.readouterr().out)
    assert printed == {k: v for k, v in summary.items() if k != "provenance"}
    assert summary["source"] == "folder" and summary["class_names"] == ["fault", "healthy"]
    assert summary["sample_rate_hz"] == RATE and summary["recordings"] == 6
    assert [entry["file"] for entry in summary["skipped_files"]] == ["healthy/batch.npy"]
    # Windows of 128 every 64 in the 840 / 180 / 180 samples of each recording's time segments.
    assert summary["windows"] == {"train": 6 * 12, "val": 6 * 1, "test": 6 * 1}
    for key in ("linear_probe", "logistic_regression"):
        assert 0 <= summary[key]["test_top1"] <= 100
    assert (out / "tsne_test.png").is_file() and (out / "training_curves.png").is_file()


def test_unlabelled_folder_writes_the_encoder_and_a_summary_without_probes(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    write(root / "a.npy", tone(0))
    write(root / "day2" / "deep" / "b.csv", tone(1))
    write(root / "day2" / "c.wav", tone(2))
    out = tmp_path / "run"
    assert cpc(root, out, "--labels", "none", "--sample_rate_hz", str(RATE)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels"] == "none" and summary["class_names"] == []
    assert summary["linear_probe"] is None and summary["logistic_regression"] is None
    assert "no probe" in summary["note"]
    # Every window pretrains: (1200 - 128) // 64 + 1 = 17 per recording, none held out.
    assert summary["windows"] == {"train": 3 * 17, "val": 0, "test": 0}
    checkpoint = load_checkpoint(out / "last.pth")
    assert checkpoint["model_spec"]["backbone"] == "cpc"
    assert (out / "training_curves.png").is_file() and not (out / "tsne_test.png").exists()


def empty(root: Path) -> str:
    root.mkdir()
    return "no recording (.npy, .csv, .wav, .mat) under"


def one_class(root: Path) -> str:
    write(root / "healthy" / "a.npy", tone(0))
    return "has 1 class folder(s) ['healthy']; a labelled folder needs at least two"


def wrong_rate(root: Path) -> str:
    labelled_tree(root)
    write(root / "fault" / "fast.wav", tone(5, 2400), rate=2 * RATE)
    return "fast.wav: its sample rate is 2000 Hz, not the source's 1000 Hz"


def matrix(root: Path) -> str:
    labelled_tree(root)
    np.save(root / "fault" / "batch.npy", np.ones((4, 300)))
    return "batch.npy is a matrix of shape (4, 300) where one channel (a vector) was expected"


@pytest.mark.parametrize("make", [empty, one_class, wrong_rate, matrix])
def test_bad_data_is_one_line_and_nothing_is_written(tmp_path: Path, capsys, make) -> None:
    root = tmp_path / "recordings"
    message = make(root)
    out = tmp_path / "run"
    assert cpc(root, out, "--sample_rate_hz", str(RATE)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("contrastlab cpc: error: ") and message in captured.err
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--source", "folder"], "--source folder needs the folder of recordings: --data DIR"),
        (["--source", "bearing-sim", "--labels", "none"],
         "--labels applies to --source folder only, not --source bearing-sim"),
    ],
)  # fmt: skip
def test_folder_option_errors(tmp_path: Path, capsys, options: list[str], message: str) -> None:
    assert main(["cpc", *options, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
