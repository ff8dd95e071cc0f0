"""``contrastlab pretrain``: SupCon, SimCLR or MoCo pretraining (main_supcon), then optionally a
linear evaluation into the same run directory.

The run directory holds ``config.yaml``, checkpoints (``last.pth``, ``ckpt_epoch_N.pth``),
``metrics.jsonl``, ``tensorboard/``, ``training_curves.png`` and ``summary.json``; with
``--linear`` also ``tsne_test.png`` and ``linear_metrics.jsonl``. A kNN monitor on the validation
split runs every ``--knn_every`` epochs (never on the test split; off with ``--val_size 0``).

``--dataset folder`` (:mod:`contrastlab.data.image_stream_source`): a labelled or unlabelled folder,
held in memory when it fits ``--in_memory_mb``, else streamed by ``--workers`` DataLoader processes
that cut the random resized crops at full resolution (the batch arrives as uint8 views
``[B, V, C, size, size]``; the rest of the augmentation runs batched on the device). The kNN monitor
and ``--linear`` use ``--eval_folder`` when given. With ``--on_bad_file skip`` the unreadable files
met are listed in ``summary.json`` (``skipped_files``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from contrastlab.config.image import LinearConfig, PretrainConfig
from contrastlab.data.image_augment import ContrastiveImageAugment, EvalImageTransform
from contrastlab.data.image_sources import load_image_source
from contrastlab.data.image_stream_source import FolderData, load_folder_data
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.checkpoint_evaluation import linear_evaluation, load_for_evaluation
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.knn import knn_accuracy
from contrastlab.evaluation.plots import plot_training_curves
from contrastlab.methods import ContrastiveViewsMethod, MoCoMethod
from contrastlab.models.image_network import (
    build_pretrain_network,
    check_images_fit,
    image_model_spec,
)
from contrastlab.training import distributed
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import fit
from contrastlab.training.provenance import provenance
from contrastlab.training.resume import load_resume_checkpoint
from contrastlab.training.rng import seed_everything
from contrastlab.training.run_directory import claimed_run, usable_run_path
from contrastlab.training.streaming_batches import StreamingViewBatches, folder_crop_batches


@dataclass
class PretrainData:
    """What pretraining reads: the in-memory training set (None when streamed), the labelled
    evaluation splits (None: no kNN monitor, no ``--linear``), the normalisation metadata, the
    training classes, a few images to check against the network, and the folder when the data
    set is one."""

    train: LabeledTensors | None
    evaluation: DataSplits | None
    metadata: dict[str, Any]
    class_names: list[str]
    sample: torch.Tensor
    folder: FolderData | None = None


def load_pretrain_data(config: PretrainConfig) -> PretrainData:
    """The data of ``config`` with every check done (nothing written yet)."""
    if config.dataset != "folder":
        data = load_image_source(
            config.dataset, data_dir=config.data_folder, size=config.size,
            download=config.download, seed=config.seed, val_size=config.val_size,
        )  # fmt: skip
        return PretrainData(
            data.train, data, data.metadata, data.class_names, data.train.inputs[:2]
        )
    folder = load_folder_data(
        config.data_folder, config.labels, config.eval_folder, config.size, config.seed,
        config.in_memory_mb, config.workers, config.on_bad_file,
    )  # fmt: skip
    return PretrainData(
        folder.train, folder.evaluation, folder.metadata, folder.listing.class_names,
        folder.sample, folder,
    )  # fmt: skip


def _method(
    config: PretrainConfig, model: nn.Module, augment: nn.Module, given_views: bool = False
) -> nn.Module:
    """The "views -> loss" method of ``config.method`` for ``model`` (built and initialised);
    ``given_views``: the batches hold the views (streamed folders)."""
    if config.method == "moco":
        return MoCoMethod(
            model,
            augment,
            feature_dim=config.feat_dim,
            queue_size=config.moco_queue_size,
            momentum=config.moco_momentum,
            temperature=config.temp,
            supervised=config.moco_supervised,
            seed=config.seed,
            shuffle_bn=config.moco_shuffle_bn,
            bn_splits=config.moco_bn_splits,
            given_views=given_views,
        )
    return ContrastiveViewsMethod(
        augment, method=config.method, temperature=config.temp, n_views=config.n_views,
        given_views=given_views,
    )  # fmt: skip


def pretrain(config: PretrainConfig) -> dict[str, Any]:
    """Pretrain (module docstring); returns the summary (also in ``summary.json``)."""
    path = usable_run_path(
        config.out,
        f"{config.dataset}-{config.method}",
        config.resume,
        config.overwrite,
        inputs=(config.resume, config.data_folder, config.eval_folder),
    )
    device = resolve_device(config.device)
    resumed = load_resume_checkpoint(config, device) if config.resume else None
    data = load_pretrain_data(config)
    streamed = data.folder is not None and data.folder.streamed
    if data.evaluation is None and config.linear:
        raise ValueError(
            "--linear needs labelled evaluation images: give --eval_folder DIR (<class>/<image>)"
        )
    spec = image_model_spec(
        config.model, config.stem, config.head, config.feat_dim, config.size, data.metadata,
        data.class_names, config.dataset, config.data_folder, config.seed,
    )  # fmt: skip
    if data.folder is not None:
        spec.update(labels=config.labels, eval_folder=config.eval_folder, streamed=streamed)
    seed_everything(config.seed)
    model = build_pretrain_network(spec)
    eval_transform = EvalImageTransform(config.size, spec["mean"], spec["std"])
    check_images_fit(model, data.sample, eval_transform)
    augment = ContrastiveImageAugment(
        config.size, spec["mean"], spec["std"], scale=(config.crop_min_scale, 1.0),
        flip_p=config.flip_p, crop=not streamed,
    )  # fmt: skip
    method = _method(config, model, augment, given_views=streamed)
    n_views = 2 if config.method == "moco" else config.n_views
    train = (
        folder_crop_batches(data.folder.listing, n_views, config, device, data.folder.skipped)
        if streamed
        else data.train
    )
    evaluation = data.evaluation
    if evaluation is None and config.knn_every:
        warnings.warn(
            "no labelled evaluation images (a streamed or unlabelled folder without "
            "--eval_folder): the kNN monitor is off",
            stacklevel=2,
        )

    def knn_monitor(trained: nn.Module, epoch: int) -> dict[str, float]:
        due = config.knn_every and (epoch % config.knn_every == 0 or epoch == config.epochs)
        # --val_size 0 or no evaluation folder: nothing to monitor (never test)
        if not due or evaluation is None or len(evaluation.val) == 0:
            return {}
        features = encode_splits(
            trained.encoder, evaluation, config.eval_batch_size, ("train", "val"),
            eval_transform.to(device),
        )  # fmt: skip
        k = min(config.knn_k, len(evaluation.train))
        top1 = knn_accuracy(
            features["train"], evaluation.train.labels, features["val"], evaluation.val.labels,
            evaluation.num_classes, k=k,
        )  # fmt: skip
        return {"knn_val_top1": top1}

    with claimed_run(
        path,
        config.resume,
        config.overwrite,
        inputs=(config.resume, config.data_folder, config.eval_folder),
    ) as run:
        result = fit(
            model, method, train, config, run.path, evaluate=knn_monitor,
            checkpoint_extra={"model_spec": spec, "kind": "supcon"}, resume_checkpoint=resumed,
        )  # fmt: skip
        if not distributed.is_main_process():
            return {}
        summary: dict[str, Any] = {"method": config.method, "epochs": config.epochs}
        last = result.history[-1] if result.history else {}
        if last:
            summary["final_loss"] = last["loss"]
            summary.update({k: last[k] for k in ("knn_val_top1",) if k in last})
        if isinstance(train, StreamingViewBatches) and train.skipped_files():
            summary["skipped_files"] = train.skipped_files()
        plot_training_curves(run / "metrics.jsonl", run / "training_curves.png")
        if config.linear and result.last_checkpoint is not None:
            linear = LinearConfig(
                ckpt=str(result.last_checkpoint), out=str(run.path), seed=config.seed,
                device=config.device, threads=config.threads, progress=config.progress,
                epochs=config.linear_epochs, learning_rate=config.linear_learning_rate,
                batch_size=config.linear_batch_size, eval_batch_size=config.eval_batch_size,
            )  # fmt: skip
            setup = load_for_evaluation(linear, evaluation)
            summary.update(linear_evaluation(linear, setup, run.path))
        run.write_summary(summary, provenance(device, config.seed))
    return summary
