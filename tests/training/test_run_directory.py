"""The run directory contract: which folders a run may use, and what a failed run leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contrastlab.training.run_directory import LOCK_NAME, MARKER_NAME, RunDirectory


def make_run(folder: Path) -> Path:
    with RunDirectory.claim(folder) as run:
        torch.save({"model": {}}, run / "last.pth")
        (run / "config.yaml").write_text("epochs: 1\n")
    return folder


def test_a_new_or_empty_folder_is_fine_and_another_run_is_refused(tmp_path: Path) -> None:
    assert RunDirectory.check_target(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert RunDirectory.check_target(tmp_path / "empty") == tmp_path / "empty"
    run = make_run(tmp_path / "run")
    with pytest.raises(ValueError, match=r"already holds a run.*--resume .*--overwrite"):
        RunDirectory.check_target(run)
    with pytest.raises(ValueError, match="already holds a run: choose another --out, or"):
        RunDirectory.check_target(run, resumable=False)


def test_a_resumed_run_continues_only_in_its_own_folder(tmp_path: Path) -> None:
    first, second = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    assert RunDirectory.check_target(first, resume=first / "last.pth") == first
    assert RunDirectory.check_target(tmp_path / "c", resume=first / "last.pth")
    with pytest.raises(ValueError, match="continues in its checkpoint's folder"):
        RunDirectory.check_target(second, resume=first / "last.pth")


def test_overwrite_never_deletes_what_the_command_reads(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with pytest.raises(ValueError, match=r"would delete .*last.pth, which this command reads"):
        RunDirectory.check_target(run, overwrite=True, inputs=(run / "last.pth",))
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "x.png").write_bytes(b"")
    with pytest.raises(ValueError, match="holds no contrastlab run"):
        RunDirectory.check_target(tmp_path / "photos", overwrite=True)
    assert RunDirectory.check_target(run, overwrite=True, inputs=(tmp_path / "other.pth",))


def test_a_failed_run_without_a_checkpoint_leaves_no_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunDirectory.claim(tmp_path / "failed") as run:
        (run / "summary.json").write_text("{}")
        raise RuntimeError("an unreadable file met while encoding")
    assert not (tmp_path / "failed").exists()  # a retry is not refused
    with pytest.raises(RuntimeError), RunDirectory.claim(tmp_path / "kept") as run:
        torch.save({"model": {}}, run / "last.pth")
        raise RuntimeError("diverged after a good epoch")
    names = {p.name for p in (tmp_path / "kept").iterdir()}
    assert "last.pth" in names and LOCK_NAME not in names and MARKER_NAME in names


def test_a_failed_run_in_an_existing_folder_leaves_it(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with pytest.raises(RuntimeError), RunDirectory.claim(run, resume=run / "last.pth"):
        raise RuntimeError("diverged")
    assert (run / "last.pth").is_file() and (run / "config.yaml").is_file()
