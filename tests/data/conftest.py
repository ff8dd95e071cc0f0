"""Fixtures shared by the data tests: a local file:// server of CWRU records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from contrastlab.data.cwru_download import CWRU_12K_DRIVE_END, CwruFile, sha256_file


def _serve(folder: Path, number: int, n_samples: int = 300, holds: int | None = None) -> Path:
    """Write ``<folder>/<number>.mat`` with the arrays of record ``holds`` (default: its own)."""
    folder.mkdir(exist_ok=True)
    source = number if holds is None else holds
    path = folder / f"{number}.mat"
    scipy.io.savemat(
        path,
        {
            f"X{source:03d}_DE_time": np.linspace(0, 1, n_samples)[:, None],
            f"X{source:03d}RPM": np.array([[1797]], dtype=np.uint16),
        },
    )
    return path


@pytest.fixture
def serve_cwru_record() -> Callable[..., Path]:
    """``serve(folder, number, n_samples=300, holds=None)`` writes one served record."""
    return _serve


@pytest.fixture
def cwru_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file:// folder serving 105 (checksum registered), 118 (wrong checksum registered) and
    120 (no checksum known: validated by content)."""
    folder = tmp_path / "server"
    good = _serve(folder, 105)
    _serve(folder, 118)
    _serve(folder, 120)
    monkeypatch.setitem(CWRU_12K_DRIVE_END, 105, CwruFile(105, "IR007", 0, sha256_file(good)))
    monkeypatch.setitem(CWRU_12K_DRIVE_END, 118, CwruFile(118, "B007", 0, "0" * 64))
    return folder
