"""A labelled folder too large for memory, split into train / val / test on its file listing:
what ``ce --dataset folder`` streams when the folder does not fit ``--in_memory_mb``.

The split: :func:`~contrastlab.data.image_arrays.fraction_split` of the listing's labels with
``seed`` and the fractions of the in-memory loader
(:func:`~contrastlab.data.image_folder.load_image_folder`: :data:`FOLDER_VAL_FRACTION` of the
files for validation, :data:`FOLDER_TEST_FRACTION` for test, stratified, test drawn first). Both
split the labels of the files in listing order, so each file lands in the split the in-memory
loader puts its image in; an unreadable file (``--on_bad_file skip``) leaves its own split only,
in either path.

Nothing is decoded here but the normalisation sample: the mean and std are estimated on the train
split's files (:func:`~contrastlab.data.image_stream_source.sample_statistics`), as the in-memory
loader takes its train split's.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from contrastlab.data.image_arrays import fraction_split
from contrastlab.data.image_folder import (
    FOLDER_TEST_FRACTION,
    FOLDER_VAL_FRACTION,
    ImageListing,
    image_header_problem,
)
from contrastlab.data.image_stream_source import FolderData, sample_statistics


def listing_subset(listing: ImageListing, indices: Sequence[int]) -> ImageListing:
    """The files of ``listing`` at ``indices`` (in that order), with their labels and every
    class name of ``listing``."""
    return ImageListing(
        listing.root,
        [listing.files[int(i)] for i in indices],
        [listing.labels[int(i)] for i in indices],
        list(listing.class_names),
    )


HEADER_THREADS = 8
"""Threads reading image headers (file-system bound work)."""


def unreadable_headers(files: Sequence[Path], progress: bool = True) -> dict[Path, str]:
    """The files among ``files`` whose image header does not read, with the reason
    (:func:`~contrastlab.data.image_folder.image_header_problem`), read by a few threads."""
    with ThreadPoolExecutor(max_workers=HEADER_THREADS) as pool:
        problems = list(
            tqdm(
                pool.map(image_header_problem, files), total=len(files),
                desc="checking evaluation files", leave=False, disable=None if progress else True,
            )
        )  # fmt: skip
    return {path: problem for path, problem in zip(files, problems, strict=True) if problem}


def check_evaluation_files(splits: ListingSplits, on_bad_file: str, progress: bool = True) -> None:
    """Read the header of every val and test file before anything is trained: ValueError naming
    the first unreadable one (``on_bad_file="error"``), or naming a split none of whose files is
    readable (``"skip"``: it could not be scored)."""
    evaluated = [*splits.val.files, *splits.test.files]
    problems = unreadable_headers(evaluated, progress)
    if problems and on_bad_file == "error":
        path, problem = next(iter(problems.items()))
        raise ValueError(
            f"cannot read image {path}: {problem} ({len(problems)} unreadable file(s) among the "
            f"{len(evaluated)} validation and test files; --on_bad_file skip leaves them out)"
        )
    for name, split in (("validation", splits.val), ("test", splits.test)):
        if len(split) and all(path in problems for path in split.files):
            raise ValueError(
                f"none of the {len(split)} {name} image files is readable (the first: "
                f"{split.files[0]}: {problems[split.files[0]]})"
            )


@dataclass(frozen=True)
class ListingSplits:
    """Train / val / test listings of one labelled folder (each in listing order)."""

    train: ImageListing
    val: ImageListing
    test: ImageListing


def split_listing(
    listing: ImageListing,
    seed: int,
    val_fraction: float = FOLDER_VAL_FRACTION,
    test_fraction: float = FOLDER_TEST_FRACTION,
) -> ListingSplits:
    """The stratified split of the module docstring; ValueError for an unlabelled listing or
    classes too small to split."""
    if not listing.labelled:
        raise ValueError(f"{listing.root}: splitting needs class labels (<class>/<image>)")
    labels = np.asarray(listing.labels, dtype=np.int64)
    train, val, test = fraction_split(labels, val_fraction, test_fraction, seed)
    return ListingSplits(*(listing_subset(listing, part) for part in (train, val, test)))


@dataclass
class StreamedSplits:
    """A labelled folder streamed from disk.

    Attributes:
        train: the train split as pretraining streams a folder (its listing, normalisation,
            sample images and the unreadable files met while estimating the normalisation).
        val, test: the listings scored in evaluation.
    """

    train: FolderData
    val: ImageListing
    test: ImageListing

    @property
    def class_names(self) -> list[str]:
        return self.train.listing.class_names


def load_streamed_splits(
    listing: ImageListing,
    size: int,
    seed: int,
    workers: int,
    on_bad_file: str,
    progress: bool = True,
) -> StreamedSplits:
    """Split ``listing`` (:func:`split_listing` with ``seed``) and estimate the normalisation on
    the train split's files at ``size`` (``workers`` decoding processes; unreadable files as
    ``on_bad_file`` says: ValueError naming the file, or skipped with a warning). The header of
    every val and test file is read first (:func:`check_evaluation_files`), so that an unreadable
    one (``"error"``) or an unreadable split stops the command before it writes anything rather
    than after training."""
    splits = split_listing(listing, seed)
    check_evaluation_files(splits, on_bad_file, progress)
    mean, std, sample, skipped = sample_statistics(splits.train, size, seed, workers, on_bad_file)
    train = FolderData(splits.train, True, None, None, mean, std, sample, skipped)
    return StreamedSplits(train, splits.val, splits.test)
