"""DataLoaders over streamed image files: worker processes, bounded prefetch, the bad-file policy,
and failed workers as one clear error.

Memory: at most ``workers * PREFETCH_BATCHES`` batches are decoded ahead (one batch with
``workers=0``, where the main process decodes), whatever the number of files.

Failures: an unreadable file never raises in a worker (:mod:`contrastlab.data.image_stream`); the
main process applies ``on_bad_file`` (:class:`BadFileLog`): ``"error"`` raises ValueError naming
the file; ``"skip"`` records it, and the caller warns once with the count and the names. A worker
that dies (killed for memory, a crash in a decoder) or delivers nothing for
:data:`WORKER_TIMEOUT_S` seconds raises :class:`LoaderWorkerError` instead of hanging.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from contrastlab._values import check_choice, check_int
from contrastlab.data.image_folder import BAD_FILE_POLICIES, ImageListing, warn_skipped
from contrastlab.data.image_stream import (
    MAX_BAD_IN_A_ROW,
    BadFile,
    ResizedImages,
    collate_resized,
)

PREFETCH_BATCHES = 2
"""Batches each worker decodes ahead (DataLoader's ``prefetch_factor``)."""
WORKER_TIMEOUT_S = 600.0
"""Seconds a batch may take to arrive from the workers before the run stops."""


class LoaderWorkerError(OSError):
    """A DataLoader worker process died or stopped delivering batches."""


def _init_worker(worker_id: int) -> None:
    # Each worker decodes one image at a time; intra-op threads would only oversubscribe the CPUs.
    torch.set_num_threads(1)


def make_loader(
    dataset: Dataset,
    batch_sampler: Iterable[Sequence[Any]],
    collate_fn: Callable[[list[Any]], Any],
    workers: int,
    pin_memory: bool = False,
    persistent: bool = False,
) -> DataLoader:
    """A DataLoader of ``dataset`` with ``workers`` processes (0: in the main process), each
    :data:`PREFETCH_BATCHES` batches ahead; ``persistent`` keeps the workers between epochs."""
    check_int("workers", workers, minimum=0)
    options: dict[str, Any] = {}
    if workers > 0:
        options = {
            "prefetch_factor": PREFETCH_BATCHES,
            "persistent_workers": persistent,
            "timeout": WORKER_TIMEOUT_S,
            "worker_init_fn": _init_worker,
        }
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        **options,
    )


def loader_batches(loader: DataLoader) -> Iterator[Any]:
    """The batches of ``loader``; a dead or silent worker raises :class:`LoaderWorkerError`."""
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except RuntimeError as error:
            text = str(error)
            if "DataLoader worker" not in text and "DataLoader timed out" not in text:
                raise
            first = text.splitlines()[0] if text else type(error).__name__
            raise LoaderWorkerError(
                f"an image loader worker failed ({first}); a worker killed for memory is the "
                "usual cause: lower --workers or --batch_size"
            ) from error
        yield batch


class BadFileLog:
    """The unreadable files a streamed set has met (path -> reason) and the ``on_bad_file``
    policy (module docstring)."""

    def __init__(self, on_bad_file: str, root: str | os.PathLike[str]) -> None:
        check_choice("on_bad_file", on_bad_file, BAD_FILE_POLICIES)
        self.on_bad_file = on_bad_file
        self.root = Path(root)
        self.seen: dict[str, str] = {}
        self._unreported: list[str] = []

    def record(self, bad: Sequence[BadFile], n_without_image: int = 0) -> None:
        """Apply the policy to one batch's bad files; ``n_without_image``: items for which no
        readable file was found. Raises ValueError naming the file."""
        if bad and (self.on_bad_file == "error" or n_without_image):
            path, reason = bad[-1]
            if self.on_bad_file == "error":
                raise ValueError(
                    f"cannot read image {path}: {reason} (--on_bad_file skip leaves unreadable "
                    "files out)"
                )
            raise ValueError(
                f"{MAX_BAD_IN_A_ROW} image files in a row are unreadable (the last: {path}: "
                f"{reason}): does {self.root} hold images?"
            )
        for path, reason in bad:
            if path not in self.seen:
                self.seen[path] = reason
                self._unreported.append(path)

    def take_unreported(self) -> list[str]:
        """The files recorded since the last call."""
        found, self._unreported = self._unreported, []
        return found


def resized_batches(
    listing: ImageListing,
    size: int,
    batch_size: int,
    workers: int,
    on_bad_file: str = "error",
    indices: Sequence[int] | None = None,
    progress: bool = False,
    bad_files: BadFileLog | None = None,
    channels: int = 3,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The images of ``listing`` (those at ``indices``, default all) in order, each resized to
    ``size x size``, in batches ``(images uint8 [b, C, size, size], labels [b], file indices
    [b])``, decoded by ``workers`` processes. Unreadable files raise or are left out as
    ``on_bad_file`` says; the skipped ones are recorded in ``bad_files`` when given, else warned
    about once, at the end. ``channels``: 3 (RGB) or 1 (grayscale)."""
    check_int("batch_size", batch_size)
    order = list(range(len(listing))) if indices is None else [int(i) for i in indices]
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    dataset = ResizedImages(listing, size, channels)
    loader = make_loader(dataset, batches, collate_resized, workers)
    log = BadFileLog(on_bad_file, listing.root) if bad_files is None else bad_files
    stream = loader_batches(loader)
    for images, labels, found, bad in tqdm(
        stream, total=len(batches), desc="images", disable=None if progress else True, leave=False
    ):
        log.record(bad)
        if len(found):
            yield images, labels, found
    if bad_files is None and log.seen:
        warn_skipped(list(log.seen), listing.root)
