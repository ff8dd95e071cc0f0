"""The signal commands' source rules (torch-free configuration): one tuple of source names that
the loaders accept too, each source's ``--data`` rule, the folder source's options and the
choice tuples the folder loader and the configuration share."""

from __future__ import annotations

import pytest

from contrastlab.config.choices import (
    BAD_FILE_POLICIES,
    FOLDER_LABELS,
    RATE_MISMATCH_POLICIES,
    RECORDING_LAYOUTS,
    SIGNAL_SOURCES,
)
from contrastlab.config.signal import CWRU_DIR_ENV, CPCConfig, check_source_data
from contrastlab.data import recordings, signal_folder, signal_sources


def test_folder_choices_agree_with_the_loader() -> None:
    assert FOLDER_LABELS == signal_folder.LABEL_MODES
    assert BAD_FILE_POLICIES == signal_folder.BAD_FILE_POLICIES
    assert RATE_MISMATCH_POLICIES == signal_folder.RATE_MISMATCH_POLICIES
    assert RECORDING_LAYOUTS == recordings.LAYOUTS
    assert signal_sources.SIGNAL_SOURCES is SIGNAL_SOURCES and "folder" in SIGNAL_SOURCES


def test_every_source_name_loads_or_names_its_problem() -> None:
    with pytest.raises(ValueError, match=r"unknown signal source 'sound'.*'folder'"):
        signal_sources.load_signal_source("sound")
    with pytest.raises(ValueError, match="the folder source needs data_dir"):
        signal_sources.load_signal_source("folder")


@pytest.mark.parametrize(
    ("source", "data", "message"),
    [
        ("cwru", None, f"--data DIR or the {CWRU_DIR_ENV}"),
        ("folder", None, "--source folder needs the folder of recordings: --data DIR"),
        ("folder", "", "--source folder needs the folder of recordings"),
        ("bearing-sim", "somewhere", "simulates its data: drop --data"),
    ],
)
def test_source_data_rules(
    source: str, data: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CWRU_DIR_ENV, raising=False)
    with pytest.raises(ValueError, match=message):
        check_source_data(source, data)


@pytest.mark.parametrize(
    ("source", "data"), [("cwru", "dir"), ("folder", "dir"), ("bearing-sim", None), ("ucr", None)]
)
def test_source_data_accepted(source: str, data: str | None) -> None:
    check_source_data(source, data)


def test_cwru_folder_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CWRU_DIR_ENV, "/somewhere")
    check_source_data("cwru", None)


def test_cpc_folder_options() -> None:
    config = CPCConfig(source="folder", data="recordings", sample_rate_hz=8000, labels="none",
                       layout="channels_last", on_bad_file="skip")  # fmt: skip
    assert config.folder_options() == {
        "sample_rate_hz": 8000.0, "labels": "none", "variable": None,
        "layout": "channels_last", "on_bad_file": "skip", "on_rate_mismatch": "error",
    }  # fmt: skip
    assert not config.probes and CPCConfig(source="folder", data="recordings").probes
    with pytest.raises(ValueError, match="--source folder needs the folder of recordings"):
        CPCConfig(source="folder")
    with pytest.raises(
        ValueError, match="--sample_rate_hz, --variable apply to --source folder only, not "
    ):
        CPCConfig(source="bearing-sim", sample_rate_hz=100.0, variable="x")
    with pytest.raises(ValueError, match="--labels must be one of folders, none"):
        CPCConfig(source="folder", data="d", labels="files")
    with pytest.raises(ValueError, match=r"--sample_rate_hz must be in \(0, "):
        CPCConfig(source="folder", data="d", sample_rate_hz=0.0)
