"""Bad invocations as a new user makes them: each ends with exit code 2 and one line naming the
problem, and a run directory that was there before is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch

from contrastlab.cli import main
from contrastlab.data.ts_file import write_ts_file
from contrastlab.training.run_directory import LOCK_NAME

BASE = [
    *("--dataset", "digits", "--model", "smallcnn", "--size", "8", "--batch_size", "256"),
    *("--knn_every", "0", "--no-progress", "--device", "cpu"),
]  # fmt: skip
TINY = [*BASE, "--epochs", "2"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and the SHA-256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "run"
    assert main(["pretrain", *TINY, "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    made = {
        "malformed": ("epochs: [1, 2\n", "text"),
        "duplicate": ("epochs: 1\nepochs: 2\n", "text"),
        "unknown": ("learning_rat: 0.1\n", "text"),
        "binary": (b"\x00\xff\xfe\x00epochs", "bytes"),
        "list": ("- 1\n- 2\n", "text"),
        "empty_pth": (b"", "bytes"),
        "a_file": ("not a folder\n", "text"),
    }
    paths = {}
    for name, (content, kind) in made.items():
        path = folder / name
        if kind == "bytes":
            path.write_bytes(content)
        else:
            path.write_text(content)
        paths[name] = path
    paths["model_pt"] = folder / "model.pt"
    torch.save({"format": "contrastlab-diagnosis-1", "spec": {}}, paths["model_pt"])
    ucr = folder / "ucr"
    ucr.mkdir()
    series = torch.randn(4, 1, 24).double().numpy()
    for split in ("TRAIN", "TEST"):  # two series per class: nothing left to validate on
        write_ts_file(ucr / f"Tiny_{split}.ts", series, ["a", "a", "b", "b"], "Tiny")
    paths["ucr"] = ucr
    binary = folder / "binary_ts"
    binary.mkdir()
    for split in ("TRAIN", "TEST"):
        (binary / f"Bin_{split}.ts").write_bytes(b"\x00\xff\xfe@data")
    paths["binary_ts"] = binary
    return paths


def _cases(run: Path, files: dict[str, Path]) -> list[tuple[list[str], str]]:
    resume = ["--resume", str(run / "last.pth")]
    same = [*TINY, "--out", str(run), *resume]
    fresh = str(run.parent / "never-written")
    return [
        (["pretrain", *TINY, "--out", str(run)], "already holds a run"),
        (["pretrain", "--config", str(files["malformed"]), "--out", fresh], "not valid YAML"),
        (["pretrain", "--config", str(files["duplicate"]), "--out", fresh], "given twice"),
        (["pretrain", "--config", str(files["unknown"]), "--out", fresh], "--learning_rat"),
        (["pretrain", "--config", str(files["binary"]), "--out", fresh], "not UTF-8 text"),
        (["pretrain", "--config", str(files["list"]), "--out", fresh], "must hold a mapping"),
        (["pretrain", "--config", str(run / "nope.yaml"), "--out", fresh], "not found"),
        (["pretrain", *same, "--device", "bogus"], "--device must be"),
        (["pretrain", *same, "--size", "100000"], "--size must be in"),
        (["pretrain", *same, "--weight_decay", "1e300"], "--weight_decay must be in"),
        (["pretrain", *same, "--threads", "100000"], "--threads must be in"),
        (["pretrain", *same, "--n_views", "100000"], "--n_views must be in"),
        (["pretrain", *same, "--batch_size", "1000000000"], "--batch_size must be in"),
        (["pretrain", *same, "--seed", "-1"], "--seed must be in"),
        (["pretrain", *same, "--temp", "inf"], "--temp must be a finite number"),
        (["pretrain", *same, "--learning_rate", "1e8"], "--learning_rate must be in"),
        (["pretrain", *same, "--epochs", "many"], "--epochs expects integer"),
        (["pretrain", *same, "--epoch", "3"], "unrecognized arguments: --epoch"),
        (["pretrain", *TINY, "--out", str(files["a_file"])], "is a file"),
        (["pretrain", *same, "--method", "simclr"], "--method 'supcon' -> 'simclr'"),
        (["pretrain", *same, "--temp", "0.5"], "--temp"),
        (["pretrain", *same, "--seed", "3"], "--seed 0 -> 3"),
        (["pretrain", *same, "--model", "resnet18"], "--model 'smallcnn' -> 'resnet18'"),
        (["pretrain", *same, "--size", "16"], "--size 8 -> 16"),
        (["pretrain", *[*same[:-2], "--resume", str(run / "ckpt_epoch_9.pth")]], "not found"),
        (["pretrain", *BASE, "--epochs", "1", "--out", str(run), *resume], "only grow"),
        (["pretrain", "--dataset", "cifar10", "--out", fresh], "--data_folder"),
        (["linear", "--ckpt", str(files["empty_pth"]), "--out", fresh], "an empty file"),
        (["linear", "--ckpt", str(files["model_pt"]), "--out", fresh], "diagnosis model"),
        (["linear", "--ckpt", str(run / "last.pth"), "--out", str(run)], "already holds"),
        (["linear", "--out", fresh], "--ckpt PATH is required"),
        (["knn", "--ckpt", str(run / "last.pth"), "--model", "resnet18"], "unrecognized"),
        (["ucr", "--data", str(files["ucr"]), "--dataset", "Tiny", "--out", fresh], "validation"),
        (["ucr", "--data", str(files["binary_ts"]), "--dataset", "Bin", "--out", fresh], "Bin_"),
        (["cpc", "--source", "cwru", "--out", fresh], "--data"),
        (["bearing", "--channels", "DE,XX", "--data", fresh, "--out", fresh], "--channels"),
        (["plot", fresh], "no metrics.jsonl"),
        (["pretrain", *TINY, "--workers", "3", "--out", fresh], "apply to --dataset folder"),
        (["ce", "--dataset", "digits", "--in_memory_mb", "0", "--out", fresh], "folder only"),
        (["ce", "--on_bad_file", "ignore", "--out", fresh], "--on_bad_file must be one of"),
        (
            ["ce", "--dataset", "folder", "--data_folder", str(files["a_file"]), "--out", fresh],
            "is not a directory",
        ),
        (["pretrain", *TINY, "--moco_queue_size", "64", "--out", fresh], "--method moco only"),
        (["pretrain", *TINY, "--method", "moco", "--n_views", "3", "--out", fresh], "2 views"),
        (["linear", "--ckpt", str(run / "last.pth"), "--size", "16", "--out", fresh], "8-pixel"),
        (["knn", "--ckpt", str(run / "last.pth"), "--out", fresh], "unrecognized"),
        (
            [
                "embed",
                "--ckpt",
                str(run / "last.pth"),
                "--out",
                str(run),
                "--overwrite",
                "--dataset",
                "digits",
            ],
            "would delete",
        ),
        (["bearing", "--data", fresh, "--resume", str(run / "last.pth")], "other options"),
    ]


def test_every_bad_invocation_is_one_line_exit_2_and_leaves_the_run_as_it_was(
    run_dir: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(run_dir)
    assert LOCK_NAME not in before  # released when the run ended
    failures = []
    for argv, expected in _cases(run_dir, files):
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as exit_info:  # argparse's own errors
            code = exit_info.code
        err = capsys.readouterr().err.strip()
        lines = err.splitlines()
        if code != 2 or len(lines) != 1 or expected not in err or "Traceback" in err:
            failures.append((argv, code, err))
    assert not failures, "\n".join(f"{argv}: exit {code}: {err!r}" for argv, code, err in failures)
    assert snapshot(run_dir) == before
    assert not (run_dir.parent / "never-written").exists()


def test_a_second_concurrent_run_is_refused(run_dir: Path, capsys) -> None:
    before = snapshot(run_dir)
    lock = run_dir / LOCK_NAME
    lock.write_text(f'{{"pid": {os.getpid()}, "host": "{os.uname().nodename}"}}')  # alive
    try:
        resume = ["--resume", str(run_dir / "last.pth"), "--epochs", "3"]
        assert main(["pretrain", *BASE, "--out", str(run_dir), *resume]) == 2
        assert "another contrastlab run (pid" in capsys.readouterr().err
    finally:
        lock.unlink()
    assert snapshot(run_dir) == before


def test_overwrite_replaces_the_old_run_and_stale_files_go(tmp_path: Path) -> None:
    run = tmp_path / "run"
    options = [*BASE, "--epochs", "1"]
    assert main(["pretrain", *options, "--save_freq", "1", "--out", str(run)]) == 0
    (run / ".last.pth.abc123.tmp").write_bytes(b"half a checkpoint")  # a kill -9 during a save
    dead = f'{{"pid": 999999999, "host": "{os.uname().nodename}"}}'  # a killed run's lock
    (run / LOCK_NAME).write_text(dead)
    assert main(["pretrain", *options, "--out", str(run), "--overwrite"]) == 0
    names = {path.name for path in run.iterdir()}
    assert ".last.pth.abc123.tmp" not in names and LOCK_NAME not in names
    assert "ckpt_epoch_1.pth" not in names  # the old run's files are gone


def test_the_run_records_where_it_came_from(run_dir: Path) -> None:
    """summary.json and config.yaml carry the provenance; config.yaml still loads as --config."""
    import json

    from contrastlab.config import PretrainConfig, build_config, read_yaml

    provenance = json.loads((run_dir / "summary.json").read_text())["provenance"]
    assert set(provenance) >= {"contrastlab", "git_commit", "torch", "device", "seed", "threads"}
    assert provenance["command"].startswith("contrastlab ") and provenance["seed"] == 0
    text = (run_dir / "config.yaml").read_text()
    assert text.startswith("# contrastlab: ") and "# command: " in text
    assert build_config(PretrainConfig, read_yaml(run_dir / "config.yaml")).epochs == 2


def test_warnings_are_one_line_and_logs_get_a_line_per_epoch(tmp_path: Path, capsys) -> None:
    """Off a terminal (pytest captures stderr): no progress-bar frames, one line per epoch, and a
    warning as one ``contrastlab <command>: warning:`` line."""
    import warnings

    from contrastlab.cli import _warnings_as_lines

    with _warnings_as_lines("pretrain"):  # what Python's default showwarning prints
        shown = warnings.formatwarning("first line\nsecond line", UserWarning, "x.py", 1)
    assert shown == "contrastlab pretrain: warning: first line second line\n"
    assert main(["pretrain", *BASE[:-5], "--device", "cpu", "--epochs", "2",
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert [line.split(":")[0] for line in err.splitlines()] == ["epoch 1", "epoch 2"]
    assert "\r" not in err and "it/s" not in err
