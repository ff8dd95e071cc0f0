"""A :class:`~contrastlab.training.batches.BatchSource` of image files decoded by DataLoader
workers: training on sets of any size with bounded memory.

Order: the same rule as :class:`~contrastlab.training.batches.InMemoryBatches`
(:func:`~contrastlab.training.batches.epoch_batches`): a permutation of all files fixed by
``(seed, epoch)``, cut into global batches of ``batch_size * world_size``, each split into
contiguous per-rank slices. So every rank reads its own shard, every epoch reshuffles, and a run
resumed at epoch ``e`` reads the batches (and, :mod:`contrastlab.data.image_stream`, the crops)
an uninterrupted run reads in epoch ``e``.

Batches: ``(views uint8 [B, V, C, size, size], labels int64 [B])`` on the training device (through
pinned memory on CUDA), ``V`` random resized crops per image made at full resolution by the
workers; the method augments the given views (``given_views=True``). Unreadable files follow
``on_bad_file`` (:class:`~contrastlab.data.image_stream_loader.BadFileLog`): with ``"skip"`` each
is replaced by the next readable file, so batch shapes never change, and at the end of an epoch
that met new ones, one warning counts and names them (under DDP, those of every rank: the end of
an epoch is a collective, reached by all ranks after the same number of batches).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from contrastlab.config.image import CEConfig, PretrainConfig
from contrastlab.data.image_folder import ImageListing, warn_skipped
from contrastlab.data.image_stream import RandomCropViews, collate_views
from contrastlab.data.image_stream_loader import BadFileLog, loader_batches, make_loader
from contrastlab.training import distributed
from contrastlab.training.batches import count_batches, epoch_batches


class EpochBatchSampler:
    """Index batches of epoch :attr:`epoch` for this rank, as ``(epoch, index)`` keys of
    :class:`RandomCropViews`. It runs in the main process, so setting :attr:`epoch` between
    epochs reaches persistent workers."""

    def __init__(self, n_samples: int, batch_size: int, seed: int) -> None:
        self.n_samples, self.batch_size, self.seed = n_samples, batch_size, seed
        self.epoch = 1

    def __len__(self) -> int:
        return count_batches(self.n_samples, self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for indices in epoch_batches(self.n_samples, self.batch_size, self.seed, self.epoch):
            yield [(self.epoch, index) for index in indices.tolist()]


class StreamingViewBatches:
    """Batches of multi-view crops of image files (module docstring).

    Args:
        views: the dataset (files, labels, crop size, views, crop scale and ratio, seed,
            ``on_bad_file``).
        batch_size: images per batch and process.
        seed: seed of the batch order (``--seed``).
        device: the training device.
        workers: decoding processes (0: the main process decodes).
        known_bad_files: unreadable files already reported (e.g. while estimating the
            normalisation), not warned about again.
    """

    def __init__(
        self,
        views: RandomCropViews,
        batch_size: int,
        seed: int,
        device: torch.device,
        workers: int,
        known_bad_files: Iterable[str] = (),
    ) -> None:
        self.views = views
        self.device = device
        self.sampler = EpochBatchSampler(len(views), batch_size, seed)
        self.loader = make_loader(
            views, self.sampler, collate_views, workers,
            pin_memory=device.type == "cuda", persistent=workers > 0,
        )  # fmt: skip
        self.bad_files = BadFileLog(views.on_bad_file, views.root)
        self.skipped: set[str] = set(known_bad_files)

    def __len__(self) -> int:
        return len(self.sampler)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.epoch = epoch
        for images, labels, bad, n_without_image in loader_batches(self.loader):
            self.bad_files.record(bad, n_without_image)
            yield (
                images.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True),
            )
        met = distributed.gather_objects(self.bad_files.take_unreported())
        new = sorted({path for rank_files in met for path in rank_files} - self.skipped)
        self.skipped.update(new)
        if new and distributed.is_main_process():
            warn_skipped(new, self.views.root)

    def close(self) -> None:
        """Stop the decoding processes, which persist between epochs: the loader holding them is
        dropped (no epoch can follow)."""
        self.loader = None  # type: ignore[assignment]

    def skipped_files(self) -> list[str]:
        """Every unreadable file met (and skipped) so far, by any rank, up to the last epoch's
        end."""
        return sorted(self.skipped)


def folder_crop_batches(
    listing: ImageListing,
    n_views: int,
    config: PretrainConfig | CEConfig,
    device: torch.device,
    known_bad_files: Iterable[str] = (),
) -> StreamingViewBatches:
    """The streamed training batches of a folder command: ``n_views`` random resized crops per
    file of ``listing`` (``--size``, ``--crop_min_scale``, ``--seed``, ``--on_bad_file``) in
    batches of ``--batch_size`` decoded by ``--workers`` processes."""
    views = RandomCropViews(
        listing, config.size, n_views, config.seed, scale=(config.crop_min_scale, 1.0),
        on_bad_file=config.on_bad_file,
    )  # fmt: skip
    return StreamingViewBatches(
        views, config.batch_size, config.seed, device, config.workers, known_bad_files
    )
