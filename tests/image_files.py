"""Generated image folders for tests (importable from every test folder: ``tests/`` is on
``sys.path`` through its ``conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_images(root: Path, count: int, classes: tuple[str, ...] = ("cat", "dog", "eel")) -> Path:
    """``count`` random images of mixed sizes (PNG and JPEG) under ``root/<class>/``."""
    generator = np.random.default_rng(0)
    for index in range(count):
        folder = root / classes[index % len(classes)]
        folder.mkdir(parents=True, exist_ok=True)
        height, width = generator.integers(12, 40, 2)
        pixels = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:03d}.{'png' if index % 2 else 'jpg'}")
    return root
