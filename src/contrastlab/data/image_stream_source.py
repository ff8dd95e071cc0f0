"""What ``pretrain --dataset folder`` trains and evaluates on: a folder held in memory or streamed.

The rule (``--in_memory_mb``): a folder of ``N`` images is held in memory, each image resized to
``size x size``, when ``N * 3 * size**2`` bytes fit in ``in_memory_mb`` MiB; otherwise it is
streamed (:class:`~contrastlab.training.streaming_batches.StreamingViewBatches`): DataLoader
workers decode the files and cut the random resized crops at full resolution, and memory stays
bounded by workers x prefetch x batch whatever ``N``.

Evaluation data (kNN monitor, ``--linear``): the labelled ``eval_folder`` when given, split into
train / val / test with ``seed`` and always held in memory (a labelled subset: its images cost
``3 * size**2`` bytes each); then every image of the training folder trains. Without it, a
labelled folder held in memory is split as before
(:func:`~contrastlab.data.image_folder.load_image_folder`) and trains on its train split; a
streamed or unlabelled folder has no evaluation data.

Normalisation: a folder held in memory uses the mean and std of its training images; a streamed
one estimates them on :data:`STATISTICS_SAMPLE` images drawn with ``seed`` (all of them when
there are fewer), each resized to ``size x size`` (:func:`sample_statistics`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from contrastlab.data.image_arrays import channel_mean_std
from contrastlab.data.image_folder import (
    ImageListing,
    list_image_files,
    load_image_folder,
    read_images,
    warn_skipped,
)
from contrastlab.data.image_stream_loader import BadFileLog, resized_batches
from contrastlab.data.splits import DataSplits, LabeledTensors

STATISTICS_SAMPLE = 512
"""Images of a streamed set on which the normalisation's mean and std are estimated."""
IN_CHANNELS = 3
_SAMPLE_IMAGES = 2  # images kept to check that the set fits the network before training


def folder_bytes(n_images: int, size: int) -> int:
    """Bytes of ``n_images`` RGB images of ``size x size`` in uint8."""
    return n_images * IN_CHANNELS * size * size


def fits_in_memory(n_images: int, size: int, in_memory_mb: int) -> bool:
    """The rule of the module docstring."""
    return folder_bytes(n_images, size) <= in_memory_mb * (1 << 20)


def sample_statistics(
    listing: ImageListing,
    size: int,
    seed: int,
    workers: int,
    on_bad_file: str,
    batch_size: int = 64,
) -> tuple[list[float], list[float], torch.Tensor, list[str]]:
    """Per-channel mean and (population) std on the [0, 1] scale of :data:`STATISTICS_SAMPLE`
    images of ``listing`` drawn with ``seed``, each resized to ``size x size``, the first few of
    them (uint8) and the unreadable files met (skipped, with a warning, under
    ``on_bad_file="skip"``). ValueError when none is readable."""
    count = min(len(listing), STATISTICS_SAMPLE)
    chosen = np.sort(np.random.default_rng(seed).choice(len(listing), count, replace=False))
    total = torch.zeros(IN_CHANNELS, dtype=torch.float64)
    total_square = torch.zeros_like(total)
    n_read, sample = 0, None
    bad_files = BadFileLog(on_bad_file, listing.root)
    batches = resized_batches(
        listing, size, batch_size, workers, on_bad_file, chosen, bad_files=bad_files
    )
    for images, _, _ in batches:
        mean, std = (torch.tensor(v, dtype=torch.float64) for v in channel_mean_std(images))
        total += mean * len(images)
        total_square += (std.square() + mean.square()) * len(images)
        n_read += len(images)
        sample = images[:_SAMPLE_IMAGES] if sample is None else sample
    if sample is None:
        raise ValueError(f"none of {count} image files sampled under {listing.root} is readable")
    skipped = sorted(bad_files.seen)
    if skipped:
        warn_skipped(skipped, listing.root)
    mean = total / n_read
    std = (total_square / n_read - mean.square()).clamp(min=0).sqrt()
    return mean.tolist(), std.tolist(), sample, skipped


@dataclass
class FolderData:
    """A folder's training data and evaluation data (module docstring).

    Attributes:
        listing: the training folder's images.
        streamed: True when the training set is streamed (``train`` is then None).
        train: the in-memory training images (uint8 ``[N, 3, size, size]``) and labels.
        evaluation: labelled splits for the kNN monitor and ``--linear``, or None.
        mean, std: the normalisation (per channel, [0, 1] scale).
        sample: a few training images at ``size`` (uint8), to check they fit the network.
        skipped: the unreadable files met while loading (streamed: in the statistics' sample).
    """

    listing: ImageListing
    streamed: bool
    train: LabeledTensors | None
    evaluation: DataSplits | None
    mean: list[float]
    std: list[float]
    sample: torch.Tensor
    skipped: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, Any]:
        """What a model spec takes from the data (``in_channels``, ``mean``, ``std``)."""
        return {"in_channels": IN_CHANNELS, "mean": self.mean, "std": self.std}


def load_folder_data(
    data_folder: str | os.PathLike[str],
    labels: str,
    eval_folder: str | os.PathLike[str] | None,
    size: int,
    seed: int,
    in_memory_mb: int,
    workers: int,
    on_bad_file: str,
) -> FolderData:
    """List, check and (when it fits) load the folder; every check runs here, before training
    (missing, empty or unlabelled folders, one class, a folder of non-images, unreadable files
    under ``on_bad_file="error"`` in what is read now)."""
    listing = list_image_files(data_folder, labels)
    evaluation = (
        load_image_folder(eval_folder, size=size, seed=seed, on_bad_file=on_bad_file)
        if eval_folder
        else None
    )
    if not fits_in_memory(len(listing), size, in_memory_mb):
        mean, std, sample, skipped = sample_statistics(listing, size, seed, workers, on_bad_file)
        return FolderData(listing, True, None, evaluation, mean, std, sample, skipped)
    if listing.labelled and evaluation is None:
        evaluation = load_image_folder(data_folder, size=size, seed=seed, on_bad_file=on_bad_file)
        train = evaluation.train
        mean, std = evaluation.metadata["mean"], evaluation.metadata["std"]
    else:
        train = read_images(listing, size, IN_CHANNELS, on_bad_file)
        mean, std = channel_mean_std(train.inputs)
    return FolderData(listing, False, train, evaluation, mean, std, train.inputs[:_SAMPLE_IMAGES])
