"""Options defined once: generated from the configurations, with help, defaults and checks.

Every command's options come from its configuration dataclass (contrastlab.config): each field
has a help text that shows its default, the command line, a YAML file and the dataclass give the
same errors, presets sit between the field defaults and what a user gives, and --help needs no
heavy import.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contrastlab.cli import build_parser, main
from contrastlab.cli.options import config_from_args, effective_defaults, format_default
from contrastlab.config import (
    BearingConfig,
    CEConfig,
    CPCConfig,
    DiagnoseConfig,
    EmbedConfig,
    ExportConfig,
    KNNConfig,
    LinearConfig,
    PretrainConfig,
    UCRConfig,
    build_config,
)
from contrastlab.config.options import field_defaults, option_info  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    "pretrain": PretrainConfig,
    "ce": CEConfig,
    "linear": LinearConfig,
    "knn": KNNConfig,
    "bearing": BearingConfig,
    "cpc": CPCConfig,
    "ucr": UCRConfig,
    "embed": EmbedConfig,
    "export": ExportConfig,
    "diagnose": DiagnoseConfig,
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", list(CONFIGS))
def test_every_field_is_an_option_with_help_and_its_default(command: str) -> None:
    cls = CONFIGS[command]
    parser = _subparsers()[command]
    actions = {a.dest: a for a in parser._actions}
    defaults = effective_defaults(cls)
    for field in dataclasses.fields(cls):
        info = option_info(field)
        if not info.cli:
            assert field.name not in actions
            continue
        action = actions[field.name]
        assert info.help, f"{command} --{field.name} has no help text"
        shown = parser._get_formatter()._expand_help(action)
        note = (
            "; a --dataset / --method recipe may set another"
            if (field.name in cls.preset_fields())
            else ""
        )
        assert shown.endswith(f"(default {format_default(defaults[field.name])}{note})"), shown
        if info.choices is not None and not isinstance(defaults[field.name], list):
            assert defaults[field.name] in (*info.choices, None)


def test_help_is_fast_and_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from contrastlab.cli import main\n"
        "try:\n    main(['pretrain', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_no_prefix_matching(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pretrain", "--epoch", "1"]) == 2
    assert "unrecognized arguments: --epoch" in capsys.readouterr().err


def test_resolution_order(tmp_path: Path) -> None:
    """field defaults < dataset preset < YAML file < command line."""
    config_file = tmp_path / "run.yaml"
    config_file.write_text("epochs: 7\nlearning_rate: 0.3\n")
    args = build_parser().parse_args(
        ["pretrain", "--config", str(config_file), "--learning_rate", "0.2"]
    )
    config = config_from_args(PretrainConfig, args)
    assert config.model == "smallcnn" and config.size == 16  # the digits preset
    assert config.epochs == 7  # the file over the preset's 30
    assert config.learning_rate == 0.2  # the command line over the file
    assert config.temp == 0.1  # the preset over the field default 0.07


def test_dataset_presets_equal_the_shipped_recipes() -> None:
    """``--dataset X --method M`` alone trains what configs/X_M.yaml spells out."""
    for name in ("digits_supcon", "digits_simclr", "supcon_cifar10", "simclr_cifar10"):
        recipe = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
        chosen = {"dataset": recipe["dataset"], "method": recipe["method"]}
        if recipe["dataset"] != "digits":
            chosen["data_folder"] = recipe["data_folder"]
        bare = build_config(PretrainConfig, chosen)
        for key, value in recipe.items():
            assert getattr(bare, key) == value, (name, key)
    ce = yaml.safe_load((REPO / "configs" / "ce_cifar10.yaml").read_text())
    bare_ce = build_config(CEConfig, {"dataset": "cifar10", "data_folder": "data"})
    for key, value in ce.items():
        assert getattr(bare_ce, key) == value, ("ce_cifar10", key)


def test_ts2vec_recipe_keeps_an_explicit_epoch_count() -> None:
    assert build_config(UCRConfig, {"method": "ts2vec"}).iters == 200
    explicit = build_config(UCRConfig, {"method": "ts2vec", "epochs": 1})
    assert (explicit.iters, explicit.epochs) == (0, 1)


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (PretrainConfig, {"temp": float("inf")}, "--temp must be a finite number"),
        (PretrainConfig, {"size": 100_000}, r"--size must be in \[1, 2048\]"),
        (PretrainConfig, {"n_views": 100_000}, r"--n_views must be in \[1, 64\]"),
        (PretrainConfig, {"weight_decay": 1e300}, r"--weight_decay must be in \[0, 1\)"),
        (PretrainConfig, {"threads": 100_000}, r"--threads must be in \[0, 1024\]"),
        (PretrainConfig, {"seed": -1}, r"--seed must be in \[0, "),
        (PretrainConfig, {"batch_size": 1_000_000_000}, r"--batch_size must be in \[1, "),
        (PretrainConfig, {"model": "resnet19"}, r"did you mean 'resnet18'"),
        (PretrainConfig, {"epochz": 3}, r"--epochz \(did you mean --epochs\?\)"),
        (PretrainConfig, {"epochs": "many"}, "--epochs expects integer"),
        (PretrainConfig, {"epochs": 2.5}, "--epochs expects integer"),
        (BearingConfig, {"channels": "DE,XX", "data": "x"}, "--channels must list"),
        (UCRConfig, {"method": "ts2vec", "input": "fft"}, "--input raw or standardize"),
    ],
)
def test_bad_values_name_the_option(cls, values, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_config(cls, values)


def test_large_batches_warm_up_within_the_epochs() -> None:
    """SupContrast warms up every batch > 256; with fewer epochs than warm-up epochs the warm-up
    spans the run instead of failing on --warm_epochs."""
    config = build_config(PretrainConfig, {"batch_size": 512, "epochs": 3})
    assert config.warm and config.warm_epochs == 3
