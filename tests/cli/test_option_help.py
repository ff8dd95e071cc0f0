"""Every command-line option has a help text, and the defaults the texts show are the ones used.

When a test here fails after a new configuration field: add its text to ``OPTION_HELP`` in
src/contrastlab/cli/option_help.py (or to ``CONFIG_HELP`` / ``COMMAND_HELP`` when the name
already means something else in another command), with ``(default {default})`` when it has one.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

import pytest

from contrastlab.cli import build_parser, main
from contrastlab.cli.option_help import (
    COMMAND_HELP,
    CONFIG_HELP,
    OPTION_HELP,
    format_default,
    help_text,
)
from contrastlab.cli.options import add_config_options
from contrastlab.data.cwru import CHANNELS, LABEL_SCHEMES
from contrastlab.data.image_sources import IMAGE_SOURCES
from contrastlab.data.signal_sources import SIGNAL_SOURCES
from contrastlab.models.registry import ENCODER_NAMES
from contrastlab.models.registry import SIGNAL_BACKBONES as BACKBONES
from contrastlab.models.resnet import STEMS
from contrastlab.models.signal_encoder import INPUT_REPRESENTATIONS
from contrastlab.models.signal_spec import HEADS
from contrastlab.pipelines import bearing, cpc, image, ucr
from contrastlab.pipelines.signal_pretrain import SIGNAL_METHODS
from contrastlab.training.config import PRECISIONS

# Each command built from a configuration: (its config class, the pipeline function it calls,
# the options it needs to get that far).
CONFIG_COMMANDS: dict[str, tuple[type, Any, str, list[str]]] = {
    "pretrain": (image.ImageConfig, image, "pretrain", []),
    "ce": (image.ImageConfig, image, "train_ce", []),
    "linear": (image.ImageConfig, image, "linear_eval", []),
    "knn": (image.ImageConfig, image, "knn_eval", []),
    "bearing": (bearing.BearingConfig, bearing, "run_bearing", ["--data", "unused-dir"]),
    "cpc": (cpc.CPCConfig, cpc, "run_cpc", ["--data", "unused-dir"]),
    "ucr": (ucr.UCRConfig, ucr, "run_ucr", []),
}

# cli/image.py's _linear: --epochs, --learning_rate and --batch_size set the classifier's options.
LINEAR_ALIASES = {
    "epochs": "linear_epochs",
    "learning_rate": "linear_learning_rate",
    "batch_size": "linear_batch_size",
}

_IMAGE_CHOICES = {
    "model": ENCODER_NAMES,
    "dataset": IMAGE_SOURCES,
    "stem": STEMS,
    "head": ("mlp", "linear"),
    "method": image.PRETRAIN_METHODS,
    "precision": PRECISIONS,
}
_SIGNAL_CHOICES = {
    "method": SIGNAL_METHODS,
    "model": ("auto", *BACKBONES),
    "input": INPUT_REPRESENTATIONS,
    "head": HEADS,
    "precision": PRECISIONS,
}
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    **{command: _IMAGE_CHOICES for command in ("pretrain", "ce", "linear", "knn")},
    "bearing": {
        **_SIGNAL_CHOICES,
        "source": bearing.BEARING_SOURCES,
        "label_scheme": tuple(LABEL_SCHEMES),
        "channels": CHANNELS,
        "baseline_model": ("same", *BACKBONES),
        "baseline_input": ("same", *INPUT_REPRESENTATIONS),
    },
    "cpc": {**_SIGNAL_CHOICES, "source": SIGNAL_SOURCES},
    "ucr": _SIGNAL_CHOICES,
}


class _Resolved(Exception):
    """Raised by a stubbed pipeline to hand the configuration it received back to the test."""

    def __init__(self, config: Any) -> None:
        super().__init__("resolved")
        self.config = config


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the contrastlab parser has no sub-commands")


COMMANDS = _subparsers(build_parser())


def _help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text argparse prints for ``action`` (its %-formatting applied)."""
    return parser._get_formatter()._expand_help(action) if action.help else ""


def _options_without_help(parser: argparse.ArgumentParser) -> list[str]:
    return [
        action.option_strings[0] if action.option_strings else action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not _help_of(parser, action).strip()
    ]


def _generated_options(command: str) -> dict[str, argparse.Action]:
    """The options of ``command`` generated from its configuration's fields, by field name."""
    cls = CONFIG_COMMANDS[command][0]
    fields = {field.name for field in dataclasses.fields(cls)}
    return {a.dest: a for a in COMMANDS[command]._actions if a.dest in fields}


def _resolved_config(
    command: str, monkeypatch: pytest.MonkeyPatch, *options: str
) -> tuple[Any, set[str]]:
    """The configuration ``contrastlab <command> <options>`` hands its pipeline, and the names of
    the options given on its command line (the command's own plus ``options``)."""
    _, module, function, required = CONFIG_COMMANDS[command]

    def capture(config: Any, *args: Any, **kwargs: Any) -> None:
        raise _Resolved(config)

    monkeypatch.setattr(module, function, capture)
    argv = [*required, *options]
    with pytest.raises(_Resolved) as resolved:
        main([command, *argv])
    return resolved.value.config, {word[2:] for word in argv if word.startswith("--")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_a_help_text(command: str) -> None:
    missing = _options_without_help(COMMANDS[command])
    assert not missing, (
        f"contrastlab {command}: no help text for {', '.join(missing)}; add one to OPTION_HELP "
        "(or CONFIG_HELP / COMMAND_HELP) in src/contrastlab/cli/option_help.py"
    )


def test_a_field_without_text_is_reported_not_fatal() -> None:
    @dataclasses.dataclass
    class WithNewField(ucr.UCRConfig):
        brand_new_option: int = 3

    parser = argparse.ArgumentParser(prog="contrastlab ucr")
    add_config_options(parser, WithNewField)  # builds: a missing text must not break the CLI
    assert _options_without_help(parser) == ["--brand_new_option"]


@pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS))
def test_shown_defaults_are_the_defaults_used(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each option with a default shows ``default X``, X the value the command resolves when the
    option is left out (the dataclass default, or the command's own, as ce's learning rate)."""
    config, given = _resolved_config(command, monkeypatch)
    aliases = LINEAR_ALIASES if command == "linear" else {}
    wrong = []
    for name, action in _generated_options(command).items():
        value = getattr(config, aliases.get(name, name))
        if name in given or value is None or value == []:
            continue  # None / empty defaults are described in words ("default runs/<name>")
        shown = format_default(value)
        text = _help_of(COMMANDS[command], action)
        if not re.search(rf"\bdefault {re.escape(shown)}(?![\w.])", text):
            wrong.append(f"--{name}: uses {shown}, help says {text!r}")
    assert not wrong, f"contrastlab {command}:\n" + "\n".join(wrong)


def test_ce_shows_its_own_learning_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = _resolved_config("ce", monkeypatch)
    assert config.learning_rate != image.ImageConfig.learning_rate  # else the override is moot
    text = _help_of(COMMANDS["ce"], _generated_options("ce")["learning_rate"])
    assert f"default {format_default(config.learning_rate)}" in text


def test_ucr_method_help_states_the_ts2vec_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = _resolved_config("ucr", monkeypatch, "--method", "ts2vec")
    text = " ".join(_help_of(COMMANDS["ucr"], _generated_options("ucr")["method"]).split())
    for name in ucr.TS2VEC_DEFAULTS:
        value = getattr(config, name)
        flag = (
            (f"--{name}" if value else f"--no-{name}")
            if isinstance(value, bool)
            else f"--{name} {format_default(value)}"
        )
        assert flag in text, f"ucr --method ts2vec resolves {flag}, its help does not say so"


@pytest.mark.parametrize("command", sorted(CHOICES))
def test_choice_lists_name_every_valid_value(command: str) -> None:
    options = _generated_options(command)
    missing = []
    for name, choices in CHOICES[command].items():
        if name not in options:  # ce has no --method, cpc neither
            continue
        text = _help_of(COMMANDS[command], options[name])
        missing += [
            f"--{name} {choice}"
            for choice in choices
            if not re.search(rf"(?<![\w-]){re.escape(choice)}(?![\w-])", text)
        ]
    assert not missing, f"contrastlab {command}: help does not name {', '.join(missing)}"


def test_linear_help_explains_the_classifier_options() -> None:
    options = _generated_options("linear")
    for name, target in LINEAR_ALIASES.items():
        assert f"--{target}" in _help_of(COMMANDS["linear"], options[name])
    pretrain_epochs = _help_of(COMMANDS["pretrain"], _generated_options("pretrain")["epochs"])
    assert "linear" not in pretrain_epochs


def test_percent_signs_survive_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    assert "70, 80 and 90% of --epochs" in " ".join(capsys.readouterr().out.split())


def test_help_tables_name_existing_commands_configs_and_fields() -> None:
    """No text for an option that no longer exists (a rename would leave it behind unseen)."""
    classes = {
        klass.__name__: klass
        for cls, *_ in CONFIG_COMMANDS.values()
        for klass in cls.__mro__
        if dataclasses.is_dataclass(klass)
    }
    stale = [f"CONFIG_HELP[{name!r}]" for name in CONFIG_HELP if name not in classes]
    for class_name, texts in CONFIG_HELP.items():
        fields = {field.name for field in dataclasses.fields(classes.get(class_name, object))}
        stale += [f"CONFIG_HELP[{class_name!r}][{n!r}]" for n in texts if n not in fields]
    for command, texts in COMMAND_HELP.items():
        options = _generated_options(command) if command in CONFIG_COMMANDS else {}
        stale += [f"COMMAND_HELP[{command!r}][{n!r}]" for n in texts if n not in options]
    every_field = {field.name for cls in classes.values() for field in dataclasses.fields(cls)}
    stale += [f"OPTION_HELP[{name!r}]" for name in OPTION_HELP if name not in every_field]
    assert not stale, f"help texts of no option: {', '.join(stale)}"


def test_lookup_order_command_then_config_then_shared() -> None:
    ce_text = COMMAND_HELP["ce"]["learning_rate"]
    assert help_text("learning_rate", image.ImageConfig, "ce") == ce_text
    assert "resnet1d" in str(help_text("model", ucr.UCRConfig, "ucr")).split("auto:")[1]
    assert "wdcnn for raw" in str(help_text("model", bearing.BearingConfig, "bearing"))
    assert help_text("momentum", cpc.CPCConfig, "cpc") == (
        "SGD momentum in [0, 1); adamw ignores it (default 0.9)"
    )
    assert help_text("no_such_option", cpc.CPCConfig, "cpc") is None


def test_format_default() -> None:
    assert format_default(True) == "on"
    assert format_default(False) == "off"
    assert format_default([1, 5, 10]) == "1,5,10"
    assert format_default(1e-4) == "0.0001"
    assert format_default(3.0) == "3"
    assert format_default(0.1234567) == "0.1234567"
    assert format_default("auto") == "auto"
