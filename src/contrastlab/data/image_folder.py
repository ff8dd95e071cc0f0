"""Folders of image files: the listing every image-folder path shares, and the in-memory source.

Two layouts (:func:`list_image_files`):

- ``labels="folders"``: ``root/<class>/<image>`` (images may lie deeper under ``<class>/``, as
  torchvision's ``ImageFolder`` reads them). Class names are the visible sub-folder names in sorted
  order (label = position); at least two classes, each with an image, and no image directly in
  ``root``.
- ``labels="none"``: every image anywhere under ``root``, unlabelled (label :data:`UNLABELLED`).

Files are listed recursively in sorted path order; hidden files and folders (``.name``) and files
whose extension is not an image extension are passed over. The listing never opens a file.

The in-memory source (:func:`load_image_folder`, ``--dataset folder`` of a small set) reads every
file with Pillow, converts it to RGB (``channels=3``) or grayscale (``channels=1``) and resizes it
to ``size x size`` (bilinear, antialiased when shrinking, aspect ratio not kept); everything is held
in memory as uint8. Large sets are streamed instead (:mod:`contrastlab.data.image_stream`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from contrastlab._values import check_choice
from contrastlab.config.choices import FOLDER_LABELS as LABEL_MODES
from contrastlab.data.image_arrays import check_image_size, fraction_split, make_image_splits
from contrastlab.data.splits import DataSplits, LabeledTensors

FOLDER_VAL_FRACTION = 0.15
"""Fraction of a labelled folder's files held out for validation."""
FOLDER_TEST_FRACTION = 0.2
"""Fraction of a labelled folder's files held out for test."""

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
BAD_FILE_POLICIES = ("error", "skip")
UNLABELLED = -1
MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class ImageListing:
    """The images under ``root``: ``files`` (sorted), ``labels`` (one per file, :data:`UNLABELLED`
    without classes) and ``class_names`` (empty without classes)."""

    root: Path
    files: list[Path]
    labels: list[int]
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.files)

    @property
    def labelled(self) -> bool:
        return bool(self.class_names)


def _visible_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if not any(part.startswith(".") for part in path.relative_to(root).parts) and path.is_file()
    )


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_image_files(root: str | os.PathLike[str], labels: str = "folders") -> ImageListing:
    """The images under ``root`` in one of the layouts of the module docstring.

    Raises ``FileNotFoundError`` for a missing folder and ``ValueError`` (one line, naming the
    folder) for a file given as the folder, a folder without image files (naming a few of the
    files it holds), and with ``labels="folders"``: no or one class folder, a class folder
    without images, images directly in ``root``.
    """
    check_choice("labels", labels, LABEL_MODES)
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise ValueError(f"image folder {root} is not a directory")
    found = _visible_files(root)
    images = [path for path in found if _is_image(path)]
    if labels == "none":
        if not images:
            others = [str(p.relative_to(root)) for p in found[:3]]
            raise ValueError(
                f"no image files under {root} (extensions: {', '.join(IMAGE_EXTENSIONS)})"
                + (f"; it holds e.g. {others}" if others else "; it is empty")
            )
        return ImageListing(root, images, [UNLABELLED] * len(images), [])
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(
            f"{root} has no class sub-folders (expected {root}/<class>/<image>; for images "
            "without labels use --labels none)"
        )
    loose = [p.name for p in images if p.parent == root]
    if loose:
        raise ValueError(
            f"images lie directly in {root} (e.g. {loose[:3]}): with class labels every image "
            f"belongs in {root}/<class>/; for images without labels use --labels none"
        )
    by_class: dict[str, list[Path]] = {d.name: [] for d in class_dirs}
    for path in images:
        by_class[path.relative_to(root).parts[0]].append(path)
    for class_dir in class_dirs:
        if not by_class[class_dir.name]:
            raise ValueError(
                f"class folder {class_dir} holds no image files (extensions: "
                f"{', '.join(IMAGE_EXTENSIONS)})"
            )
    if len(class_dirs) < 2:
        raise ValueError(
            f"{root} has one class folder ({class_dirs[0].name}): labelled images need at least "
            "two classes; for images without labels use --labels none"
        )
    names = [d.name for d in class_dirs]
    files = [path for name in names for path in by_class[name]]
    labels_list = [label for label, name in enumerate(names) for _ in by_class[name]]
    return ImageListing(root, files, labels_list, names)


def list_image_folder(root: str | os.PathLike[str]) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folder names) and ``(image path, label)`` pairs, sorted by class,
    then path (:func:`list_image_files` with ``labels="folders"``)."""
    listing = list_image_files(root, "folders")
    return listing.class_names, list(zip(listing.files, listing.labels, strict=True))


def read_image(path: str | os.PathLike[str], size: int, channels: int = 3) -> np.ndarray:
    """One image file as uint8 ``[channels, size, size]`` (the whole image, resized).

    Raises ValueError naming the file when Pillow cannot decode it."""
    if channels not in MODES:
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    try:
        with Image.open(path) as image:
            converted = image.convert(MODES[channels])
            resized = converted.resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(resized, dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types for bad files; all mean "unreadable"
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def image_header_problem(path: str | os.PathLike[str]) -> str | None:
    """Why Pillow cannot open ``path`` as an image (its header: format and size), or None. A
    cheap check, no pixel is decoded: a file whose header reads may still fail to decode."""
    try:
        with Image.open(path) as image:
            image.size  # noqa: B018 (reading the size is the check)
    except Exception as exc:  # Pillow raises many types for bad files; all mean "unreadable"
        return str(exc) or type(exc).__name__
    return None


def _read_listing(
    listing: ImageListing, size: int, channels: int, on_bad_file: str
) -> tuple[list[np.ndarray], list[int], list[str]]:
    """The readable images of ``listing`` (uint8 ``[channels, size, size]`` each), the listing
    positions they come from, and the unreadable files (``on_bad_file="skip"``; with
    ``"error"`` the first one raises ValueError naming it)."""
    check_image_size(size)
    check_choice("on_bad_file", on_bad_file, BAD_FILE_POLICIES)
    images, kept, skipped = [], [], []
    for position, path in enumerate(listing.files):
        try:
            images.append(read_image(path, size, channels))
        except ValueError as error:
            if on_bad_file == "error":
                raise ValueError(f"{error} (--on_bad_file skip leaves such files out)") from error
            skipped.append(str(path))
            continue
        kept.append(position)
    if skipped:
        warn_skipped(skipped, listing.root)
    if not images:
        raise ValueError(f"none of the {len(listing)} image files under {listing.root} is readable")
    return images, kept, skipped


def read_images(
    listing: ImageListing, size: int, channels: int = 3, on_bad_file: str = "error"
) -> LabeledTensors:
    """Every image of ``listing`` resized to uint8 ``[N, channels, size, size]`` with its label.

    An unreadable file raises ValueError naming it (``on_bad_file="error"``), or is left out with
    one warning that counts and names them (``"skip"``); ValueError when none is readable."""
    images, kept, _ = _read_listing(listing, size, channels, on_bad_file)
    labels = torch.tensor([listing.labels[position] for position in kept], dtype=torch.int64)
    return LabeledTensors(torch.from_numpy(np.stack(images)), labels)


def warn_skipped(files: list[str], root: Path | str) -> None:
    """One warning for unreadable files that were left out: their count and names."""
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    warnings.warn(f"skipped {len(files)} unreadable file(s) under {root}: {shown}", stacklevel=3)


def load_image_folder(
    root: str | os.PathLike[str],
    size: int = 32,
    channels: int = 3,
    val_fraction: float = FOLDER_VAL_FRACTION,
    test_fraction: float = FOLDER_TEST_FRACTION,
    seed: int = 0,
    on_bad_file: str = "error",
) -> DataSplits:
    """All images under ``root/<class>/`` as uint8 ``[N, channels, size, size]`` with a stratified
    train / val / test split (fractions of the whole set, fixed by ``seed``); unreadable files as
    :func:`read_images` (``on_bad_file``). The split is made on the file listing (readable or
    not), and an unreadable file is then left out of its split: so each split holds the files
    a streamed folder's split holds (:mod:`contrastlab.data.image_stream_splits`), whatever is
    unreadable."""
    check_image_size(size)
    if channels not in MODES:
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    listing = list_image_files(root, "folders")
    images, kept, _ = _read_listing(listing, size, channels, on_bad_file)
    labels = np.asarray(listing.labels, dtype=np.int64)
    parts = fraction_split(labels, val_fraction, test_fraction, seed)
    row_of = {position: row for row, position in enumerate(kept)}
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        if len(part) and not any(int(position) in row_of for position in part):
            raise ValueError(
                f"none of the {len(part)} {name} image files under {root} is readable "
                "(the split is made on every file listed, readable or not)"
            )
    inputs = torch.from_numpy(np.stack(images))
    kept_labels = torch.from_numpy(labels[kept])
    train, val, test = (
        LabeledTensors(inputs[rows], kept_labels[rows])
        for rows in (
            torch.tensor([row_of[p] for p in part.tolist() if p in row_of], dtype=torch.int64)
            for part in parts
        )
    )
    return make_image_splits(
        train,
        val,
        test,
        class_names=listing.class_names,
        source="folder",
        seed=seed,
        root=str(Path(root)),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )
