"""Evaluating an image pretraining checkpoint: linear probe (main_linear) and weighted kNN.

The data a checkpoint is evaluated on is, by default, the one it was pretrained on, with the
checkpoint's own split (seed, image size, folder) and held-out count (``val_size``): images it
trained on can never be scored as test images. Another ``--val_size`` draws another validation
split, whose images the encoder may have trained on: evaluation goes on, with a warning.

With an empty validation split (``--val_size 0``) nothing is chosen on validation: the linear
probe keeps its last epoch, ``val_top1`` is None, and kNN reports test only.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastlab.config.image import CheckpointEvaluation, KNNConfig, LinearConfig
from contrastlab.data.cifar import CIFAR_VAL_SIZE
from contrastlab.data.image_augment import EvalImageTransform
from contrastlab.data.image_sources import load_image_source
from contrastlab.data.splits import DataSplits
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.knn import knn_accuracy
from contrastlab.evaluation.linear_probe import linear_probe, probe_splits
from contrastlab.evaluation.plots import plot_tsne
from contrastlab.models.image_network import (
    build_ce_network,
    build_pretrain_network,
    check_images_fit,
    supcontrast_spec,
)
from contrastlab.models.supcon_resnet import SupCEResNet, SupConResNet
from contrastlab.training.checkpoint import load_checkpoint
from contrastlab.training.devices import resolve_device
from contrastlab.training.run_directory import atomic_write_text

_KIND_NAMES = {
    "supcon": "image pretraining checkpoints (contrastlab pretrain, or SupContrast's main_supcon)",
    "ce": "cross-entropy checkpoints (contrastlab ce)",
}


def load_pretrained_image_network(
    path: str | os.PathLike[str],
    device: torch.device | str = "cpu",
    kinds: tuple[str, ...] = ("supcon",),
) -> tuple[SupConResNet | SupCEResNet, dict[str, Any], dict[str, Any]]:
    """Rebuild the network of a contrastlab or SupContrast image checkpoint.

    Returns the network (eval mode, on ``device``), its spec and the options it was trained with
    (the checkpoint's ``config``; empty when it holds none). ``kinds`` are the checkpoint kinds
    accepted: ``"supcon"`` (``contrastlab pretrain``, SupContrast's main_supcon: encoder +
    projection head, :class:`SupConResNet`) and ``"ce"`` (``contrastlab ce``: encoder +
    classifier, :class:`SupCEResNet`). Raises ValueError for a checkpoint of another kind (e.g. a
    signal run) or weights that do not fit.
    """
    checkpoint = load_checkpoint(path, map_location="cpu")
    options = checkpoint.get("config") or {}
    kind = checkpoint.get("kind") or "supcon"
    if kind not in kinds:
        accepted = " or ".join(_KIND_NAMES[k] for k in kinds)
        raise ValueError(f"{path} is a {kind!r} checkpoint; this command takes {accepted}")
    spec = checkpoint.get("model_spec") or supcontrast_spec(options)
    if not isinstance(spec, dict) or "model" not in spec:
        raise ValueError(f"{path} holds no image network spec (model_spec)")
    model = build_ce_network(spec) if kind == "ce" else build_pretrain_network(spec)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        network = "cross-entropy" if kind == "ce" else "SupCon"
        raise ValueError(
            f"{path} does not hold a {spec['model']} {network} network: "
            f"{str(error).splitlines()[0]}"
        ) from error
    return model.to(device).eval(), spec, options


def evaluation_val_size(requested: int | None, pretrained: int | None) -> int | None:
    """The ``val_size`` to evaluate a checkpoint with: the pretraining's unless one is requested
    (another count warns: see the module docstring)."""
    if requested is None:
        return pretrained

    def held_out(val_size: int | None) -> int:
        return CIFAR_VAL_SIZE if val_size is None else val_size

    if held_out(requested) != held_out(pretrained):
        consequence = (
            "another validation split, which may hold images the encoder was trained on"
            if requested
            else "no validation split"
        )
        warnings.warn(
            f"--val_size {requested} differs from the checkpoint's pretraining, which held "
            f"{held_out(pretrained)} training images out: {consequence}; leave --val_size out "
            "to evaluate with the checkpoint's",
            stacklevel=3,
        )
    return requested


@dataclass
class EvaluationSetup:
    """A frozen network, its spec, the data it is evaluated on and the evaluation transform."""

    model: SupConResNet
    spec: dict[str, Any]
    data: DataSplits
    transform: nn.Module

    def features(self, batch_size: int, progress: bool = False) -> dict[str, torch.Tensor]:
        """Frozen encoder features of train, test and (when not empty) val."""
        splits = ("train", "val", "test") if len(self.data.val) else ("train", "test")
        return encode_splits(
            self.model.encoder, self.data, batch_size, splits, self.transform, progress
        )


def _default_folder(ckpt: str, spec: dict[str, Any]) -> str | None:
    """The folder a checkpoint is evaluated on by default: its pretraining's ``--eval_folder``
    when it had one, else its training folder unless that was unlabelled or streamed (too large
    to hold in memory): then ValueError asking for ``--data_folder``."""
    if spec.get("eval_folder"):
        return spec["eval_folder"]
    if spec.get("labels") == "none" or spec.get("streamed"):
        what = "unlabelled images" if spec.get("labels") == "none" else "a streamed folder"
        raise ValueError(
            f"{ckpt} was pretrained on {what} without --eval_folder: give --data_folder DIR, a "
            "labelled <class>/<image> folder to evaluate on"
        )
    return spec.get("data_folder")


def load_for_evaluation(
    config: CheckpointEvaluation, data: DataSplits | None = None
) -> EvaluationSetup:
    """The frozen network of ``config.ckpt`` and the data it is evaluated on (module docstring);
    ``data`` when the caller already holds it (pretrain --linear)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    model, spec, pretrain_options = load_pretrained_image_network(
        config.ckpt, resolve_device(config.device)
    )
    dataset = config.dataset or spec.get("dataset")
    if dataset is None:
        raise ValueError(f"{config.ckpt} does not say its data set: give --dataset")
    same_data = dataset == spec.get("dataset") and "seed" in spec
    trained_size = spec.get("size")
    if config.size is not None and trained_size is not None and config.size != trained_size:
        raise ValueError(
            f"--size {config.size}: {config.ckpt} was pretrained on {trained_size}-pixel images, "
            "which its evaluation uses (leave --size out)"
        )
    size = config.size or trained_size or 32
    if data is None:
        val_size = (
            evaluation_val_size(config.val_size, pretrain_options.get("val_size"))
            if same_data
            else config.val_size
        )
        folder = config.data_folder or (_default_folder(config.ckpt, spec) if same_data else None)
        data = load_image_source(
            dataset,
            data_dir=folder,
            size=spec["size"] if same_data else size,
            download=config.download,
            seed=spec["seed"] if same_data else config.seed,
            val_size=val_size,
        )
    transform = EvalImageTransform(
        spec.get("size", size), spec.get("mean", data.metadata["mean"]),
        spec.get("std", data.metadata["std"]),
    )  # fmt: skip
    check_images_fit(model, data.train.inputs, transform)
    return EvaluationSetup(model, spec, data, transform.to(next(model.parameters()).device))


def linear_evaluation(
    config: LinearConfig, setup: EvaluationSetup, run_dir: Path
) -> dict[str, Any]:
    """Linear probe on the frozen encoder of ``setup`` (:func:`load_for_evaluation`), as
    main_linear: epoch chosen on val, test scored once. Writes ``tsne_test.png`` and
    ``linear_metrics.jsonl`` into ``run_dir``; returns the figures."""
    features = setup.features(config.eval_batch_size, config.progress)
    result = probe_splits(
        linear_probe,
        features,
        setup.data,
        epochs=config.epochs,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    plot_tsne(
        features["test"],
        setup.data.test.labels,
        setup.data.class_names,
        run_dir / "tsne_test.png",
        seed=config.seed,
        title=f"t-SNE of test features ({setup.spec['model']})",
    )
    atomic_write_text(
        run_dir / "linear_metrics.jsonl",
        "".join(json.dumps(record) + "\n" for record in result.history),
    )
    return {
        "val_top1": result.val_top1,
        "test_top1": result.test_top1,
        "test_top5": result.test_top5,
        "linear_best_epoch": result.best_epoch,
    }


def knn_evaluation(config: KNNConfig) -> dict[str, float]:
    """Weighted kNN (cosine, k = ``--knn_k``) of val (when not empty) and test features against
    train features: ``{"val": top-1, "test": top-1}`` in percent."""
    setup = load_for_evaluation(config)
    features = setup.features(config.eval_batch_size, config.progress)
    k = min(config.knn_k, len(setup.data.train))
    return {
        split: knn_accuracy(
            features["train"],
            setup.data.train.labels,
            features[split],
            getattr(setup.data, split).labels,
            setup.data.num_classes,
            k=k,
        )
        for split in features
        if split != "train"
    }
