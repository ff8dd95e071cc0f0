"""``contrastlab download``: CWRU records and CIFAR archives from local file:// servers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_cifar import _make_archive, _write_cifar10

from contrastlab.cli import main
from contrastlab.data import cifar
from contrastlab.data.cwru import read_cwru_record
from contrastlab.data.cwru_download import sha256_file


def test_cwru_files_land_in_the_layout_bearing_reads(cwru_server, tmp_path, capsys):
    out = tmp_path / "cwru"
    command = ["download", "cwru", "--out", str(out), "--files", "105", "120"]
    assert main([*command, "--base_url", cwru_server.as_uri()]) == 0
    assert "2 CWRU files ready" in capsys.readouterr().out
    ir007 = out / "0HP/12k_Drive_End_IR007_0_105.mat"
    assert sha256_file(ir007) == sha256_file(cwru_server / "105.mat")
    assert read_cwru_record(ir007)[2] == "IR007"
    assert (out / "2HP/12k_Drive_End_B007_2_120.mat").is_file()
    # Valid files are kept: a second run with an unreachable server still succeeds.
    assert main([*command, "--base_url", (tmp_path / "nowhere").as_uri()]) == 0


def test_cwru_loads_select_files(cwru_server, tmp_path):
    out = tmp_path / "cwru"
    args = ["--files", "105", "120", "--loads", "2", "--base_url", cwru_server.as_uri()]
    assert main(["download", "cwru", "--out", str(out), *args]) == 0
    assert [path.name for path in out.rglob("*.mat")] == ["12k_Drive_End_B007_2_120.mat"]


def test_cwru_failures_are_clear_and_leave_nothing(cwru_server, tmp_path, capsys):
    out = tmp_path / "cwru"
    base = ["download", "cwru", "--out", str(out)]
    assert main([*base, "--files", "118", "--base_url", cwru_server.as_uri()]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not list(out.rglob("*.mat*"))
    assert main([*base, "--files", "131", "--base_url", cwru_server.as_uri()]) == 1  # not served
    assert "contrastlab download: error" in capsys.readouterr().err
    assert not list(out.rglob("*.mat*"))
    assert main([*base, "--files", "7"]) == 2
    assert "unknown CWRU 12 kHz drive-end file numbers [7]" in capsys.readouterr().err


@pytest.fixture
def cifar_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a CIFAR-10 archive under its official name; the spec's MD5 matches it."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _write_cifar10(tmp_path / "src")
    spec = cifar.CIFAR_ARCHIVES["cifar10"]
    md5 = _make_archive(tmp_path / "src", spec.folder, mirror / spec.filename)
    monkeypatch.setitem(cifar.CIFAR_ARCHIVES, "cifar10", dataclasses.replace(spec, md5=md5))
    return mirror


def test_cifar_archive_is_fetched_checked_and_extracted(cifar_mirror, tmp_path, capsys):
    out = tmp_path / "data"
    assert (
        main(["download", "cifar10", "--out", str(out), "--base_url", cifar_mirror.as_uri()]) == 0
    )
    assert "cifar10 ready" in capsys.readouterr().out
    assert (out / "cifar-10-batches-py" / "data_batch_1").is_file()
    assert main(["download", "cifar10", "--out", str(out), "--files", "1"]) == 2
    assert "cwru only" in capsys.readouterr().err


def test_cifar_unreachable_mirror(tmp_path, capsys):
    out = tmp_path / "data"
    code = main(
        ["download", "cifar100", "--out", str(out), "--base_url", (tmp_path / "x").as_uri()]
    )
    assert code == 1
    assert "could not download" in capsys.readouterr().err
    assert not (out / "cifar-100-python").exists()
