"""``contrastlab ce``: the supervised cross-entropy baseline (main_ce).

Val top-1 is measured after every epoch and the loop keeps the best epoch's weights in ``best.pth``
(so a resumed run still knows them); the test split is scored once, at the end, with those
weights. With an empty validation split (``--val_size 0``) the last epoch's weights are scored
and ``val_top1`` is None.

``--dataset folder`` is held in memory when it fits ``--in_memory_mb``, else streamed
(:mod:`contrastlab.data.image_stream_splits`): it is split on its file listing as the in-memory
loader splits it (the same files in the same splits); the train split is streamed as pretraining
streams a folder (``--workers`` DataLoader processes cut one random resized crop per image at
full resolution, :class:`~contrastlab.training.streaming_batches.StreamingViewBatches`; the flip
and the normalisation run batched on the device); the val split (every epoch) and the test split
(at the end) are decoded batch by batch, each image resized to ``--size`` as in evaluation.
Memory then holds a few batches of images and a split's scores (files x classes), never a split's
images. With ``--on_bad_file skip`` the unreadable files met are left out (in training replaced
by the next readable file), warned about and listed in ``summary.json`` (``skipped_files``). The
checkpoints' ``model_spec`` of a folder records ``streamed`` (True or False), as pretraining's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from contrastlab.config.image import CEConfig
from contrastlab.data.image_augment import EvalImageTransform, SupervisedImageAugment
from contrastlab.data.image_folder import ImageListing, list_image_files, warn_skipped
from contrastlab.data.image_sources import load_image_source
from contrastlab.data.image_stream_loader import BadFileLog, resized_batches
from contrastlab.data.image_stream_source import fits_in_memory
from contrastlab.data.image_stream_splits import (
    StreamedSplits,
    listing_subset,
    load_streamed_splits,
)
from contrastlab.data.splits import DataSplits
from contrastlab.evaluation.features import encode_splits, extract_features
from contrastlab.evaluation.metrics import topk_accuracy
from contrastlab.evaluation.plots import plot_training_curves
from contrastlab.methods import CrossEntropyMethod
from contrastlab.models.image_network import build_ce_network, check_images_fit, image_model_spec
from contrastlab.training import distributed
from contrastlab.training.checkpoint import load_checkpoint
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import BEST_CHECKPOINT, best_epoch, fit
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import seed_everything
from contrastlab.training.run_directory import claimed_run, usable_run_path
from contrastlab.training.streaming_batches import StreamingViewBatches, folder_crop_batches

Scores = tuple[torch.Tensor, torch.Tensor]
"""A split's logits ``[N, classes]`` and labels ``[N]``."""


def load_ce_data(config: CEConfig) -> DataSplits | StreamedSplits:
    """The data of ``config`` with every check done (nothing written yet): in memory, or a
    streamed folder's listings (module docstring)."""
    if config.dataset == "folder":
        listing = list_image_files(config.data_folder, "folders")
        if not fits_in_memory(len(listing), config.size, config.in_memory_mb):
            return load_streamed_splits(
                listing, config.size, config.seed, config.workers, config.on_bad_file,
                progress=config.progress and distributed.is_main_process(),
            )  # fmt: skip
    folder_options = {"on_bad_file": config.on_bad_file} if config.dataset == "folder" else {}
    return load_image_source(
        config.dataset, data_dir=config.data_folder, size=config.size, download=config.download,
        seed=config.seed, val_size=config.val_size, **folder_options,
    )  # fmt: skip


def streamed_scores(
    network: nn.Module,
    listing: ImageListing,
    transform: nn.Module,
    config: CEConfig,
    bad_files: BadFileLog,
) -> Scores:
    """The logits and labels of the readable files of ``listing`` (none: empty tensors), decoded
    in batches of ``--eval_batch_size`` by ``--workers`` processes, each image resized to
    ``--size`` and ``transform``-ed as in evaluation; unreadable files raise or are recorded in
    ``bad_files`` (its policy)."""
    logits = [torch.empty(0, len(listing.class_names))]
    labels = [torch.empty(0, dtype=torch.int64)]
    batches = resized_batches(
        listing, config.size, config.eval_batch_size, config.workers, config.on_bad_file,
        progress=config.progress, bad_files=bad_files,
    )  # fmt: skip
    for images, batch_labels, _ in batches:
        logits.append(extract_features(network, images, len(images), transform=transform))
        labels.append(batch_labels)
    return torch.cat(logits), torch.cat(labels)


def top1_counts(scores: Scores) -> tuple[int, int]:
    """``(correct, total)``: the samples whose highest logit is their label, and all samples."""
    logits, labels = scores
    return int((logits.argmax(dim=1) == labels).sum()), len(labels)


class SplitScores:
    """The val and test scores of ``data``, in memory
    (:func:`~contrastlab.evaluation.features.encode_splits`) or streamed (:func:`streamed_scores`).

    Streamed, validation is shared between the processes (:meth:`val_top1` runs on every rank:
    rank ``r`` of ``w`` scores every ``w``-th file from the ``r``-th, and the counts and the
    unreadable files met are gathered), while the test split is scored once, by the main process
    (:meth:`test_scores`). :attr:`skipped` holds every unreadable file met, by any rank."""

    def __init__(
        self, data: DataSplits | StreamedSplits, config: CEConfig, transform: nn.Module
    ) -> None:
        self.data, self.config, self.transform = data, config, transform
        self.streamed = isinstance(data, StreamedSplits)
        root = data.train.listing.root if isinstance(data, StreamedSplits) else "."
        self.bad_files = BadFileLog(config.on_bad_file, root)
        self.skipped: set[str] = set()

    def _scores(self, network: nn.Module, split: str, listing: ImageListing | None) -> Scores:
        transform = self.transform.to(next(network.parameters()).device)
        if listing is not None:
            return streamed_scores(network, listing, transform, self.config, self.bad_files)
        batch_size = self.config.eval_batch_size
        logits = encode_splits(network, self.data, batch_size, (split,), transform)[split]
        return logits, getattr(self.data, split).labels

    def _note_skipped(self, found: list[str], root: str) -> None:
        new = sorted(set(found) - self.skipped)
        self.skipped.update(new)
        if new and distributed.is_main_process():
            warn_skipped(new, root)

    def val_top1(self, network: nn.Module) -> float:
        """Top-1 (percent) on the val split; streamed, a collective of every rank."""
        if not self.streamed:
            return topk_accuracy(*self._scores(network, "val", None), ks=(1,))[0]
        listing: ImageListing = self.data.val  # type: ignore[union-attr]
        # each rank's BatchNorm statistics took its own last batch: score the weights and
        # statistics of rank 0, the ones the checkpoints hold (DDP resets the others anyway)
        distributed.broadcast_state(network)
        shard = listing_subset(
            listing, range(distributed.rank(), len(listing), distributed.world_size())
        )
        correct, total, error = 0, 0, None
        try:
            correct, total = top1_counts(self._scores(network, "val", shard))
        except ValueError as problem:  # e.g. a file that fails to decode: every rank must know
            error = str(problem)
        found = self.bad_files.take_unreported()
        per_rank = distributed.gather_objects((correct, total, found, error))
        errors = [message for *_, message in per_rank if message is not None]
        if errors:  # the same verdict on every rank, none left waiting in a collective
            raise ValueError(errors[0])
        self._note_skipped([path for _, _, paths, _ in per_rank for path in paths], listing.root)
        correct, total = (sum(counts[i] for counts in per_rank) for i in (0, 1))
        if total == 0:
            raise ValueError(f"none of the {len(listing)} validation image files is readable")
        return 100.0 * correct / total

    def test_scores(self, network: nn.Module) -> Scores:
        """The logits and labels of the test split (main process)."""
        listing = self.data.test if self.streamed else None
        scores = self._scores(network, "test", listing)  # type: ignore[arg-type]
        if listing is not None:
            self._note_skipped(self.bad_files.take_unreported(), listing.root)
            if len(scores[1]) == 0:
                raise ValueError(f"none of the {len(listing)} test image files is readable")
        return scores


def train_ce(config: CEConfig) -> dict[str, Any]:
    """Train and score the cross-entropy baseline (module docstring); returns the summary."""
    path = usable_run_path(
        config.out,
        f"{config.dataset}-ce",
        config.resume,
        config.overwrite,
        inputs=(config.resume, config.data_folder),
    )
    device = resolve_device(config.device)
    resumed = load_resume_checkpoint(config, device) if config.resume else None
    data = load_ce_data(config)
    streamed = isinstance(data, StreamedSplits)
    metadata, sample = (
        (data.train.metadata, data.train.sample) if streamed else (data.metadata, data.train.inputs)
    )
    spec = image_model_spec(
        config.model, config.stem, "none", 0, config.size, metadata, data.class_names,
        config.dataset, config.data_folder, config.seed,
    )  # fmt: skip
    if config.dataset == "folder":
        spec["streamed"] = streamed
    seed_everything(config.seed)
    model = build_ce_network(spec)
    eval_transform = EvalImageTransform(config.size, spec["mean"], spec["std"])
    check_images_fit(model, sample, eval_transform)
    augment = SupervisedImageAugment(
        config.size, spec["mean"], spec["std"], scale=(config.crop_min_scale, 1.0),
        flip_p=config.flip_p, crop=not streamed,
    )  # fmt: skip
    train = (
        folder_crop_batches(data.train.listing, 1, config, device, data.train.skipped)
        if streamed
        else data.train
    )
    scores = SplitScores(data, config, eval_transform)
    has_val = len(data.val) > 0

    with claimed_run(
        path, config.resume, config.overwrite, inputs=(config.resume, config.data_folder)
    ) as run:

        def validate(trained: nn.Module, epoch: int) -> dict[str, float]:
            return {"val_top1": scores.val_top1(trained)}

        result = fit(
            model, CrossEntropyMethod(augment, given_views=streamed), train, config, run.path,
            evaluate=validate if has_val else None,
            checkpoint_extra={"model_spec": spec, "kind": "ce"}, resume_checkpoint=resumed,
            best_metric="val_top1" if has_val else None, evaluate_on_every_rank=streamed,
        )  # fmt: skip
        if isinstance(train, StreamingViewBatches):
            scores.skipped.update(train.skipped_files())
            train.close()  # its decoding processes are not needed for the test split
        if not distributed.is_main_process():
            return {}
        best = best_epoch(result.history, "val_top1") if has_val else None
        if best is not None:
            model.load_state_dict(load_checkpoint(run / BEST_CHECKPOINT)["model"])
        test_top1, test_top5 = topk_accuracy(*scores.test_scores(model), ks=(1, 5))
        plot_training_curves(run / "metrics.jsonl", run / "training_curves.png")
        summary: dict[str, Any] = {
            "method": "ce",
            "val_top1": None if best is None else best["val_top1"],
            "best_epoch": config.epochs if best is None else best["epoch"],
            "test_top1": test_top1,
            "test_top5": test_top5,
        }
        if scores.skipped:
            summary["skipped_files"] = sorted(scores.skipped)
        run.write_summary(summary, provenance(device, config.seed))
    return summary
