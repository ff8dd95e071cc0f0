"""Image files decoded one at a time, in DataLoader worker processes: what a streamed set reads.

Two datasets over a list of files and labels (:class:`~contrastlab.data.image_folder.ImageListing`):

- :class:`RandomCropViews` (training): item ``(epoch, index)`` -> ``V`` random resized crops of the
  image at **full resolution**, each resized to ``size x size``: uint8 ``[V, C, size, size]``.
  The crop boxes follow torchvision's ``RandomResizedCrop.get_params`` rule
  (:func:`~contrastlab.data.image_crop.crop_boxes_from_uniforms`, the rule the device-side crop
  uses), drawn from a generator seeded by ``(seed, epoch, index)``: the crops of an image depend
  on nothing else (not on the worker, the number of workers or the rank), so a resumed run cuts the
  crops an uninterrupted one would. Each box is cut out and resized with Pillow's antialiased
  bilinear filter, as torchvision's ``resized_crop`` does on a PIL image. The rest of the recipe
  (flip, colour jitter, grayscale, blur, normalisation) runs batched on the training device
  (``ContrastiveImageAugment(..., crop=False)``).
- :class:`ResizedImages` (features, statistics): item ``index`` -> the whole image resized to
  ``size x size``, as the in-memory source stores it
  (:func:`~contrastlab.data.image_folder.read_image`).

Unreadable files never raise in a worker (an exception there would come back as a multi-line
traceback): the item carries a *bad-file record* ``(path, reason)`` instead, and the main process
applies the policy (:mod:`contrastlab.data.image_stream_loader`). In training, with
``on_bad_file="skip"``, a bad file is replaced by the next readable file in listing order (so
every batch keeps its shape) and reported; after :data:`MAX_BAD_IN_A_ROW` bad files in a row the
item gives up (the folder is then unlikely to hold images at all). With ``"error"`` the item
returns at the first bad file. :class:`ResizedImages` never replaces: its item is marked bad and
the caller drops it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from contrastlab._values import check_choice, check_int
from contrastlab.data.image_crop import CROP_UNIFORMS, crop_boxes_from_uniforms
from contrastlab.data.image_folder import BAD_FILE_POLICIES, MODES, ImageListing, read_image

MAX_BAD_IN_A_ROW = 32
"""Bad files in a row after which a training item stops looking for a readable one."""

BadFile = tuple[str, str]
"""``(path, reason)`` of a file that could not be decoded."""


def crop_uniforms(seed: int, epoch: int, index: int, n_views: int) -> np.ndarray:
    """The ``[n_views, CROP_UNIFORMS]`` float64 uniforms of image ``index`` in ``epoch``: a function
    of ``(seed, epoch, index)`` only."""
    generator = np.random.default_rng((seed, epoch, index))
    return generator.random((n_views, CROP_UNIFORMS))


def resized_crops(
    image: Image.Image,
    uniforms: np.ndarray,
    size: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> np.ndarray:
    """The random resized crops of ``image`` drawn from ``uniforms`` ``[V, CROP_UNIFORMS]``:
    uint8 ``[V, C, size, size]`` (module docstring)."""
    width, height = image.size
    boxes = crop_boxes_from_uniforms(torch.from_numpy(uniforms), height, width, scale, ratio)
    views = []
    for left, top, box_width, box_height in boxes.to(torch.int64).tolist():
        crop = image.crop((left, top, left + box_width, top + box_height))
        views.append(np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR)))
    pixels = np.stack(views)
    return pixels[:, None] if pixels.ndim == 3 else pixels.transpose(0, 3, 1, 2)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:200]


class RandomCropViews(Dataset):
    """Training views of image files (module docstring).

    Item ``(epoch, index)`` -> ``(views uint8 [V, C, size, size], label, bad files, found)``;
    ``label`` is the label of the file the views come from (a replacement's, when ``index`` was
    unreadable); ``found`` is False when no readable file was found (``"error"``: at the first bad
    file; ``"skip"``: after :data:`MAX_BAD_IN_A_ROW`), and the views are then blank.
    """

    def __init__(
        self,
        listing: ImageListing,
        size: int,
        n_views: int,
        seed: int,
        scale: tuple[float, float] = (0.2, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        channels: int = 3,
        on_bad_file: str = "error",
    ) -> None:
        check_int("size", size)
        check_int("n_views", n_views)
        check_choice("on_bad_file", on_bad_file, BAD_FILE_POLICIES)
        if channels not in MODES:
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        if len(listing) == 0:
            raise ValueError(f"no image files under {listing.root}")
        self.root = listing.root
        self.files = [str(path) for path in listing.files]
        self.labels = list(listing.labels)
        self.size, self.n_views, self.seed = size, n_views, seed
        self.scale, self.ratio = scale, ratio
        self.mode = MODES[channels]
        self.on_bad_file = on_bad_file

    def __len__(self) -> int:
        return len(self.files)

    def views_of(self, position: int, uniforms: np.ndarray) -> np.ndarray:
        """The crops of file ``position``; raises OSError / ValueError / ... when unreadable."""
        with Image.open(self.files[position]) as image:
            return resized_crops(
                image.convert(self.mode), uniforms, self.size, self.scale, self.ratio
            )

    def __getitem__(self, key: tuple[int, int]) -> tuple[np.ndarray, int, list[BadFile], bool]:
        epoch, index = key
        uniforms = crop_uniforms(self.seed, epoch, index, self.n_views)
        bad: list[BadFile] = []
        for step in range(MAX_BAD_IN_A_ROW):
            position = (index + step) % len(self.files)
            try:
                return self.views_of(position, uniforms), self.labels[position], bad, True
            except Exception as error:  # Pillow raises many types for bad files
                bad.append((self.files[position], _reason(error)))
                if self.on_bad_file == "error":
                    break
        channels = len(self.mode)
        blank = np.zeros((self.n_views, channels, self.size, self.size), dtype=np.uint8)
        return blank, self.labels[index], bad, False


class ResizedImages(Dataset):
    """Whole images resized to ``size x size`` (module docstring).

    Item ``index`` -> ``(image uint8 [C, size, size], label, index, bad files)``; an unreadable
    file gives a blank image and one bad-file record (drop it: :func:`collate_resized` marks it).
    """

    def __init__(self, listing: ImageListing, size: int, channels: int = 3) -> None:
        check_int("size", size)
        if channels not in MODES:
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        self.files = [str(path) for path in listing.files]
        self.labels = list(listing.labels)
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, int, list[BadFile]]:
        try:
            image = read_image(self.files[index], self.size, self.channels)
        except ValueError as error:
            blank = np.zeros((self.channels, self.size, self.size), dtype=np.uint8)
            reason = str(error.__cause__ or error).splitlines()[0][:200]
            return blank, self.labels[index], index, [(self.files[index], reason)]
        return image, self.labels[index], index, []


def collate_views(
    items: list[tuple[np.ndarray, int, list[BadFile], bool]],
) -> tuple[torch.Tensor, torch.Tensor, list[BadFile], int]:
    """Items of :class:`RandomCropViews` -> ``(views uint8 [B, V, C, S, S], labels int64 [B],
    bad files of the batch, number of items without a readable file)``."""
    views = torch.from_numpy(np.stack([item[0] for item in items]))
    labels = torch.tensor([item[1] for item in items], dtype=torch.int64)
    bad = [entry for item in items for entry in item[2]]
    return views, labels, bad, sum(not item[3] for item in items)


def collate_resized(
    items: list[tuple[np.ndarray, int, int, list[BadFile]]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[BadFile]]:
    """Items of :class:`ResizedImages` -> ``(images uint8 [b, C, S, S], labels int64 [b], file
    indices int64 [b], bad files)`` with the unreadable items left out (``b`` <= the batch)."""
    kept = [item for item in items if not item[3]]
    channels_size: Any = items[0][0].shape
    images = (
        torch.from_numpy(np.stack([item[0] for item in kept]))
        if kept
        else torch.empty((0, *channels_size), dtype=torch.uint8)
    )
    labels = torch.tensor([item[1] for item in kept], dtype=torch.int64)
    indices = torch.tensor([item[2] for item in kept], dtype=torch.int64)
    return images, labels, indices, [entry for item in items for entry in item[3]]
