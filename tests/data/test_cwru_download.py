"""CWRU download: a local file:// server stands in for the official site."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from contrastlab.data import cwru_download
from contrastlab.data.cwru import CLASSES_10, parse_cwru_filename, read_cwru_record
from contrastlab.data.cwru_download import (
    CWRU_12K_DRIVE_END,
    download_cwru,
    select_cwru_files,
    sha256_file,
)


def _real_dir() -> Path | None:
    env = os.environ.get("CONTRASTLAB_CWRU_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cwru")
    return next((p for p in candidates if (p / "MANIFEST.csv").is_file()), None)


def test_table_covers_ten_classes_at_four_loads() -> None:
    assert len(CWRU_12K_DRIVE_END) == 40
    for class_name in CLASSES_10:
        entries = [e for e in CWRU_12K_DRIVE_END.values() if e.class_name == class_name]
        assert sorted(e.load_hp for e in entries) == [0, 1, 2, 3]
    assert CWRU_12K_DRIVE_END[105].relative_path == "0HP/12k_Drive_End_IR007_0_105.mat"
    assert CWRU_12K_DRIVE_END[100].filename == "normal_3_100.mat"
    # Every name parses back to its own class, load and number.
    for entry in CWRU_12K_DRIVE_END.values():
        parsed = parse_cwru_filename(entry.filename)
        assert (parsed.class_name, parsed.load_hp, parsed.number) == (
            entry.class_name,
            entry.load_hp,
            entry.number,
        )
    assert [e.number for e in select_cwru_files([97, "105.mat"])] == [97, 105]
    assert {e.load_hp for e in select_cwru_files(loads=[2])} == {2}
    with pytest.raises(ValueError, match=r"unknown CWRU .*\[5\]"):
        select_cwru_files([5])


@pytest.mark.skipif(_real_dir() is None, reason="MANIFEST.csv not found")
def test_table_matches_manifest() -> None:
    with open(_real_dir() / "MANIFEST.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 19
    for row in rows:
        entry = CWRU_12K_DRIVE_END[int(row["cwru_file_no"])]
        assert entry.relative_path == row["path"]
        assert entry.sha256 == row["sha256"]
        assert entry.load_hp == int(row["load_hp"])


def test_download_verifies_and_skips_valid_files(cwru_server: Path, tmp_path: Path) -> None:
    server = cwru_server
    dest = tmp_path / "data"
    paths = download_cwru(dest, [105, 120], base_url=server.as_uri())
    assert paths == [
        dest / "0HP/12k_Drive_End_IR007_0_105.mat",
        dest / "2HP/12k_Drive_End_B007_2_120.mat",
    ]
    assert sha256_file(paths[0]) == sha256_file(server / "105.mat")
    signal, rpm, class_name = read_cwru_record(paths[0])
    assert signal.shape == (1, 300) and rpm == 1797 and class_name == "IR007"
    # A second call fetches nothing; a corrupted file is fetched again.
    calls: list[str] = []

    def counting_fetch(url: str, destination: Path) -> None:
        calls.append(url)
        shutil.copyfile(server / url.rsplit("/", 1)[1], destination)

    download_cwru(dest, [105, 120], fetch=counting_fetch)
    assert calls == []
    paths[0].write_bytes(b"corrupt")
    download_cwru(dest, [105, 120], fetch=counting_fetch)
    assert calls == [f"{cwru_download.CWRU_BASE_URL}/105.mat"]
    assert sha256_file(paths[0]) == sha256_file(server / "105.mat")


def test_checksum_mismatch_deletes_and_raises(cwru_server: Path, tmp_path: Path) -> None:
    server = cwru_server
    dest = tmp_path / "data"
    with pytest.raises(
        ValueError, match=r"118\.mat failed its check.*sha256 mismatch: expected 0000"
    ):
        download_cwru(dest, [118], base_url=server.as_uri())
    assert list((dest / "0HP").iterdir()) == []


def test_content_check_without_checksum(
    cwru_server: Path, serve_cwru_record, tmp_path: Path
) -> None:
    server = cwru_server
    serve_cwru_record(server, 121, holds=97)  # the wrong record's arrays
    with pytest.raises(ValueError, match="no variable 'X121_DE_time'"):
        download_cwru(tmp_path / "data", [121], base_url=server.as_uri())
    assert not (tmp_path / "data/3HP/12k_Drive_End_B007_3_121.mat").exists()
    with pytest.raises(OSError):
        download_cwru(tmp_path / "data", [131], base_url=server.as_uri())  # not served
    assert list((tmp_path / "data/1HP").iterdir()) == []


@pytest.mark.skipif(_real_dir() is None, reason="real CWRU data not found")
def test_real_file_passes_the_registered_checksum(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    os.symlink(_real_dir() / "0HP/12k_Drive_End_IR007_0_105.mat", server / "105.mat")
    (path,) = download_cwru(tmp_path / "data", [105], base_url=server.as_uri())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CWRU_12K_DRIVE_END[105].sha256
