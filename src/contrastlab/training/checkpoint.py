"""Checkpoints that survive crashes and load safely.

* Written atomically: to a temporary file in the same directory, flushed, then renamed over the
  target, so an interrupted save never replaces a good checkpoint with a truncated one.
* Read with ``torch.load(weights_only=True)``: only tensors and plain containers are unpickled.
  contrastlab stores its configuration as a plain dict. Checkpoints of the SupContrast reference
  code (keys ``model``, ``optimizer``, ``opt``, ``epoch``; ``opt`` an ``argparse.Namespace``) load
  too: ``argparse.Namespace`` is the one extra class admitted, through torch's safe-globals list.
* ``module.`` prefixes left by ``DataParallel`` / ``DistributedDataParallel`` are removed.
"""

from __future__ import annotations

import argparse
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from contrastlab.training.run_directory import atomic_write

CHECKPOINT_FORMAT = "contrastlab-1"


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Atomically write ``state`` (tensors and plain data) to ``path``; return the path."""
    payload = dict(state)
    payload.setdefault("format", CHECKPOINT_FORMAT)
    return atomic_write(path, lambda stream: torch.save(payload, stream))


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` that (Distributed)DataParallel adds to parameter names.

    SupContrast wraps the encoder alone (``encoder.module.conv1.weight``), DDP the whole model
    (``module.encoder.conv1.weight``): both become ``encoder.conv1.weight``.
    """

    def clean(key: str) -> str:
        key = key.removeprefix("module.")
        return key.replace(".module.", ".")

    return {clean(key): value for key, value in state_dict.items()}


def _namespace_to_dict(value: Any) -> Any:
    return vars(value).copy() if isinstance(value, argparse.Namespace) else value


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict:
    """Load a contrastlab or SupContrast checkpoint safely.

    Returns a dict with at least ``model`` (state dict without ``module.`` prefixes); ``config``
    (a plain dict; from SupContrast's ``opt`` Namespace when that is what the file holds) and
    ``epoch`` when present.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt, not a checkpoint, or holds objects other than
            tensors, plain data and ``argparse.Namespace``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as error:
        detail = (str(error).strip().splitlines() or [""])[0][:200]
        empty = " (an empty file)" if path.stat().st_size == 0 else ""
        raise ValueError(
            f"cannot read checkpoint {path}{empty}: the file is truncated, corrupt or holds "
            f"objects that are not plain data ({type(error).__name__}: {detail})"
        ) from error
    if isinstance(payload, dict) and payload.get("format") == "contrastlab-diagnosis-1":
        raise ValueError(
            f"{path} is a bearing diagnosis model (model.pt), not a training checkpoint: use it "
            "with contrastlab diagnose (or embed / export)"
        )
    if not isinstance(payload, dict) or "model" not in payload:
        found = sorted(payload)[:10] if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path} is not a model checkpoint: expected a 'model' entry, found {found}"
        )
    checkpoint = dict(payload)
    checkpoint["model"] = strip_module_prefix(checkpoint["model"])
    if "config" not in checkpoint and "opt" in checkpoint:
        checkpoint["config"] = _namespace_to_dict(checkpoint.pop("opt"))
    return checkpoint
