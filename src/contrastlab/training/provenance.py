"""Where a run's figures came from: versions, commit, device, seed, threads and command line."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

import contrastlab


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the git checkout holding contrastlab's sources (None outside a checkout),
    with ``+dirty`` when it has uncommitted changes."""
    folder = folder or Path(contrastlab.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if status else commit


def provenance(device: torch.device | str, seed: int) -> dict[str, Any]:
    """The facts ``summary.json`` and ``config.yaml`` record about a run."""
    return {
        "contrastlab": contrastlab.__version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "command": shlex.join(["contrastlab", *sys.argv[1:]])
        if Path(sys.argv[0]).name in ("contrastlab", "__main__.py")
        else shlex.join(sys.argv),
    }


def as_yaml_comments(facts: dict[str, Any]) -> str:
    """``facts`` as ``# key: value`` lines (config.yaml keeps loading with ``--config``)."""
    return "".join(f"# {key}: {value}\n" for key, value in facts.items())
