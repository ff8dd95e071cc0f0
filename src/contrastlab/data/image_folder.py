"""Images in one sub-folder per class (``root/<class name>/<image file>``) as an image source.

Class names are the sub-folder names in sorted order (label = position). Files are read with
Pillow, converted to RGB (``channels=3``) or grayscale (``channels=1``) and resized to
``size x size`` (bilinear, aspect ratio not kept). Files whose extension is not an image extension
(and hidden files or folders) are skipped; an image file that cannot be decoded is an error that
names it. Everything is held in memory as uint8, so this suits small and medium sets.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from contrastlab.data.image_arrays import check_image_size, fraction_split, make_image_splits
from contrastlab.data.splits import DataSplits, LabeledTensors

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
)
_MODES = {1: "L", 3: "RGB"}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def list_image_folder(root: str | os.PathLike[str]) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folder names) and ``(image path, label)`` pairs, sorted by path."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise ValueError(f"image folder {root} is not a directory")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not class_dirs:
        raise ValueError(f"{root} has no class sub-folders (expected {root}/<class>/<image>)")
    samples: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(
            p
            for p in class_dir.iterdir()
            if p.is_file() and _visible(p) and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise ValueError(
                f"class folder {class_dir} holds no image files (extensions: "
                f"{', '.join(IMAGE_EXTENSIONS)})"
            )
        samples.extend((path, label) for path in files)
    return [d.name for d in class_dirs], samples


def read_image(path: str | os.PathLike[str], size: int, channels: int = 3) -> np.ndarray:
    """One image file as uint8 ``[channels, size, size]``."""
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    try:
        with Image.open(path) as image:
            converted = image.convert(_MODES[channels])
            resized = converted.resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(resized, dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types for bad files; all mean "unreadable"
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def load_image_folder(
    root: str | os.PathLike[str],
    size: int = 32,
    channels: int = 3,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> DataSplits:
    """All images under ``root/<class>/`` as uint8 ``[N, channels, size, size]`` with a stratified
    train / val / test split (fractions of the whole set, fixed by ``seed``)."""
    check_image_size(size)
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    class_names, samples = list_image_folder(root)
    images = torch.from_numpy(np.stack([read_image(path, size, channels) for path, _ in samples]))
    labels_np = np.array([label for _, label in samples], dtype=np.int64)
    labels = torch.from_numpy(labels_np)
    parts = fraction_split(labels_np, val_fraction, test_fraction, seed)
    train, val, test = (
        LabeledTensors(images[idx], labels[idx]) for idx in map(torch.from_numpy, parts)
    )
    return make_image_splits(
        train,
        val,
        test,
        class_names=class_names,
        source="folder",
        seed=seed,
        root=str(Path(root)),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
