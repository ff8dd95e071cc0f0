"""Options defined once: a dataclass field carries its default, help text, choices and range.

A command's configuration is a dataclass deriving from :class:`Config` whose fields are made with
:func:`option`::

    temp: float = option(0.1, "loss temperature", low=0.0, open_low=True, high=100.0)

The command line is generated from the fields (:mod:`contrastlab.cli.options`), YAML files and
keyword arguments fill the same fields, and every value is checked once, when the configuration
is built (``__post_init__``): its type, that a number is finite and inside its range, that a
name is one of its choices, then the configuration's own cross-field rules (:meth:`Config.check`).
Code below the configuration trusts it.

This module and every configuration import neither torch nor any other heavy library, so
``contrastlab COMMAND --help`` and option errors come back at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT", bound="Config")

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class OptionInfo:
    """What :func:`option` stores in a field's metadata."""

    help: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    cli: bool = True  # False: set by the command itself, not an option


def option(
    default: Any = _MISSING,
    help: str = "",
    *,
    factory: Any = _MISSING,
    choices: Sequence[Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    cli: bool = True,
) -> Any:
    """A dataclass field with its help text, choices and range (``low``/``high`` inclusive unless
    ``open_low``/``open_high``; for lists, every element). Give ``factory`` for list defaults."""
    info = OptionInfo(
        help=help,
        choices=None if choices is None else tuple(choices),
        low=low,
        high=high,
        open_low=open_low,
        open_high=open_high,
        cli=cli,
    )
    metadata = {"option": info}
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def option_info(field: dataclasses.Field) -> OptionInfo:
    """The :class:`OptionInfo` of ``field`` (an empty one for a plain field)."""
    return field.metadata.get("option", OptionInfo(help=""))


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type hints of a configuration's fields (``int``, ``float | None``, ...)."""
    return typing.get_type_hints(cls)


def _base_type(kind: Any) -> tuple[Any, bool]:
    """``(T, optional)`` for ``T`` / ``T | None``."""
    arguments = typing.get_args(kind)
    if type(None) in arguments:
        rest = [a for a in arguments if a is not type(None)]
        return rest[0], True
    return kind, False


def _describe(kind: Any) -> str:
    base, optional = _base_type(kind)
    origin = typing.get_origin(base)
    if origin is list:
        text = f"a comma-separated list of {_describe(typing.get_args(base)[0])}s"
    else:
        text = {int: "integer", float: "number", bool: "true/false", str: "text"}.get(
            base, str(base)
        )
    return f"{text} or none" if optional else text


def coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert a YAML / text value to the field's type (PyYAML reads ``1e-4`` as a string).

    Raises ValueError naming the option, the expected type and the value.
    """
    base, optional = _base_type(kind)
    if value is None or (optional and isinstance(value, str) and value.lower() == "none"):
        if optional:
            return None
        raise ValueError(f"--{name} expects {_describe(kind)}, got none")
    try:
        if typing.get_origin(base) is list:
            element = typing.get_args(base)[0]
            items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise TypeError
            return [coerce(name, element, item) for item in items]
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                return value.lower() in ("true", "yes")
            raise TypeError
        if base is int:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, float):
                if not value.is_integer():
                    raise TypeError
                return int(value)
            if not isinstance(value, (int, str)):
                raise TypeError
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if base is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError
            return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"--{name} expects {_describe(kind)}, got {value!r}") from None
    return value


def _range_text(info: OptionInfo) -> str:
    low = "-inf" if info.low is None else f"{info.low:g}"
    high = "inf" if info.high is None else f"{info.high:g}"
    left = "(" if info.open_low or info.low is None else "["
    right = ")" if info.open_high or info.high is None else "]"
    return f"{left}{low}, {high}{right}"


def _check_value(name: str, info: OptionInfo, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _check_value(name, info, item)
        return
    if info.choices is not None and value not in info.choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in info.choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"--{name} must be one of {', '.join(map(str, info.choices))}; got {value!r}{hint}"
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--{name} must be a finite number, got {value!r}")
        below = info.low is not None and (value <= info.low if info.open_low else value < info.low)
        above = info.high is not None and (
            value >= info.high if info.open_high else value > info.high
        )
        if below or above:
            raise ValueError(f"--{name} must be in {_range_text(info)}, got {value!r}")


@dataclass
class Config:
    """Base of every command's configuration (see the module docstring)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field against its type, range and choices, then :meth:`check`."""
        types = field_types(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            checked = coerce(field.name, types[field.name], value)
            if checked != value or type(checked) is not type(value):
                setattr(self, field.name, checked)
            _check_value(field.name, option_info(field), checked)
        self.check()

    def check(self) -> None:
        """Rules between fields; raise ValueError naming the options. Subclasses extend it."""

    def _changed(self, names: Sequence[str]) -> list[str]:
        """The options of ``names`` (as ``--name``) whose value is not the field default: for
        refusing options a configuration's other choices leave unused."""
        defaults = field_defaults(type(self))
        return [f"--{name}" for name in names if getattr(self, name) != defaults[name]]

    @classmethod
    def preset(cls, chosen: Mapping[str, Any], given: Set[str]) -> dict[str, Any]:
        """Defaults that depend on already chosen options (e.g. the data set or the method):
        applied above the field defaults and below the YAML file and the command line.
        ``chosen``: every option's value so far (defaults included); ``given``: the names set by
        a file or the command line."""
        return {}

    @classmethod
    def preset_fields(cls) -> frozenset[str]:
        """The options some :meth:`preset` may set (their help says so)."""
        return frozenset()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def build_config(cls: type[ConfigT], *sources: Mapping[str, Any] | None) -> ConfigT:
    """Instantiate ``cls`` from mappings applied in order (later wins; ``None`` values skipped),
    with :meth:`Config.preset` of the resulting choices below the first source.

    Unknown keys raise ValueError naming them (and the closest known option), so a typo in a
    YAML file never passes silently.
    """
    known = field_names(cls)
    values: dict[str, Any] = {}
    for source in sources:
        if not source:
            continue
        unknown = sorted(set(source) - set(known))
        if unknown:
            hints = [
                f"--{name}" + (f" (did you mean --{close[0]}?)" if close else "")
                for name in unknown
                for close in [difflib.get_close_matches(name, known, n=1)]
            ]
            raise ValueError(f"unknown option(s) {', '.join(hints)} for {cls.__name__}")
        values.update({key: value for key, value in source.items() if value is not None})
    types = field_types(cls)
    values = {name: coerce(name, types[name], value) for name, value in values.items()}
    chosen = {**field_defaults(cls), **values}
    preset = cls.preset(chosen, set(values))
    preset = {name: value for name, value in preset.items() if name not in values}
    return cls(**{**preset, **values})


def field_defaults(cls: type) -> dict[str, Any]:
    """Each field's default value (from its default or default factory)."""
    defaults = {}
    for field in dataclasses.fields(cls):
        if field.default is not _MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not _MISSING:
            defaults[field.name] = field.default_factory()
    return defaults
