"""YAML configuration files: read strictly (one mapping, no duplicate keys, named errors)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from contrastlab._text_files import read_text_file


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} given twice (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping of option names to values.

    Raises FileNotFoundError for a missing file and ValueError naming the file for a directory,
    a binary or non-UTF-8 file, invalid YAML (with its line), a duplicate key or a document that
    is not a mapping.
    """
    path = Path(path)
    text = read_text_file(path, "config file")
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"config file {path} is not valid YAML{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of option names to values")
    bad = [key for key in data if not isinstance(key, str)]
    if bad:
        raise ValueError(f"config file {path}: option names must be text, got {bad}")
    return data
