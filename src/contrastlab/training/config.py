"""Run configuration as data: a dataclass per pipeline, filled from defaults < YAML < command line.

The resolved configuration is saved next to the run's checkpoints (``config.yaml``) and inside
each checkpoint as a plain dict, so a checkpoint alone is enough to rebuild its model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from contrastlab._checks import check_int
from contrastlab.training.optimizer import OPTIMIZERS
from contrastlab.training.schedule import LRSchedule

PRECISIONS = ("32", "16-mixed", "bf16-mixed")

ConfigT = TypeVar("ConfigT", bound="TrainConfig")


@dataclass
class TrainConfig:
    """Options of the shared training loop, named as in SupContrast's scripts."""

    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 0.05
    lr_decay_epochs: list[int] = field(default_factory=list)  # empty: 70, 80, 90% of epochs
    lr_decay_rate: float = 0.1
    weight_decay: float = 1e-4
    momentum: float = 0.9
    optimizer: str = "sgd"  # or "adamw"
    cosine: bool = False
    warm: bool = False
    warm_epochs: int = 10
    warmup_from: float = 0.01
    save_freq: int = 50
    print_freq: int = 10
    precision: str = "32"
    syncBN: bool = False
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    resume: str | None = None
    progress: bool = True
    threads: int = 0  # intra-op CPU threads; 0 keeps PyTorch's default

    def validate(self) -> None:
        """Raise ValueError naming the first option with a value that cannot work."""
        check_int("--threads", self.threads, minimum=0)
        for name in ("epochs", "batch_size", "save_freq", "print_freq"):
            check_int(f"--{name}", getattr(self, name))
        for name in ("learning_rate", "lr_decay_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)!r}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError("--weight_decay must be >= 0 and --momentum in [0, 1)")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"--optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"--precision must be one of {list(PRECISIONS)}, got {self.precision!r}"
            )
        self.schedule()  # validates the schedule options

    def apply_threads(self) -> None:
        """Set PyTorch's intra-op thread count when ``threads`` asks for one."""
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)

    def schedule(self) -> LRSchedule:
        return LRSchedule(
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            cosine=self.cosine,
            lr_decay_rate=self.lr_decay_rate,
            lr_decay_epochs=list(self.lr_decay_epochs)
            or [int(self.epochs * fraction) for fraction in (0.7, 0.8, 0.9)],
            warm=self.warm,
            warm_epochs=self.warm_epochs,
            warmup_from=self.warmup_from,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping of option names to values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with path.open() as stream:
        data = yaml.safe_load(stream) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of option names to values")
    return data


def build_config(
    cls: type[ConfigT],
    *sources: Mapping[str, Any] | None,
) -> ConfigT:
    """Instantiate ``cls`` from mappings applied in order (later wins; ``None`` values skipped).

    Unknown keys raise ValueError listing them, so a typo in a YAML file never passes silently.
    """
    known = set(field_names(cls))
    values: dict[str, Any] = {}
    for source in sources:
        if not source:
            continue
        unknown = sorted(set(source) - known)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for {cls.__name__}")
        values.update({key: value for key, value in source.items() if value is not None})
    for field_ in dataclasses.fields(cls):
        if field_.name in values:
            values[field_.name] = _coerce(field_.name, str(field_.type), values[field_.name])
    config = cls(**values)
    config.validate()
    return config


def _coerce(name: str, kind: str, value: Any) -> Any:
    """Convert YAML / text values to the field's type (PyYAML reads ``1e-4`` as a string)."""
    try:
        if kind.startswith("list[int]"):
            if isinstance(value, str):
                return [int(v) for v in value.split(",") if v.strip()]
            return [int(v) for v in value]
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise TypeError
        if kind.startswith("int") and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            return int(value)
        if kind.startswith("float") and not isinstance(value, bool):
            return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"option {name} expects {kind}, got {value!r}") from None
    return value


def save_config(config: TrainConfig, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=True))
    return path
