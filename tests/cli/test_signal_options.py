"""Options of ``bearing`` and ``diagnose`` beyond the generic checks: every diagnose option has
help, ``--channels auto`` per source, the folder preset, and diagnose's exit codes."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from contrastlab.cli import build_parser
from contrastlab.cli.options import format_default
from contrastlab.cli.signal import EXIT_REJECTED, EXIT_UNCERTAIN, diagnosis_exit_code
from contrastlab.config.options import build_config, option_info
from contrastlab.config.signal import BearingConfig, DiagnoseConfig


def _diagnose_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices["diagnose"]


def test_every_diagnose_option_has_help_and_its_default() -> None:
    parser = _diagnose_parser()
    actions = {a.dest: a for a in parser._actions}
    for field in dataclasses.fields(DiagnoseConfig):
        info = option_info(field)
        assert info.help, field.name
        shown = parser._get_formatter()._expand_help(actions[field.name])
        assert shown.endswith(f"(default {format_default(field.default)})"), shown
    assert "files" in actions and "3 some file was rejected" in parser.description


@pytest.mark.parametrize(
    ("source", "data", "channels"),
    [("cwru", "x", ["DE", "FE"]), ("bearing-sim", None, ["DE"]), ("folder", "x", None)],
)
def test_auto_channels_per_source(source: str, data: str | None, channels: list | None) -> None:
    config = build_config(BearingConfig, {"source": source, "data": data})
    assert config.channels == "auto" and config.channel_list == channels
    assert config.test_load == (-1 if source == "folder" else 1)
    assert build_config(BearingConfig, {"data": "x", "channels": "de,ba"}).channel_list == [
        "DE",
        "BA",
    ]
    with pytest.raises(ValueError, match="drive-end channel only"):
        BearingConfig(source="bearing-sim", channels="DE,FE")


def test_exit_codes() -> None:
    def results(*verdicts: str) -> list[dict]:
        return [{"verdict": verdict} for verdict in verdicts]

    assert diagnosis_exit_code(results("IR007", "normal")) == 0
    assert diagnosis_exit_code(results("IR007", "uncertain")) == EXIT_UNCERTAIN == 4
    assert diagnosis_exit_code(results("uncertain", "rejected", "B007")) == EXIT_REJECTED == 3
