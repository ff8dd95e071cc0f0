"""Options of the image commands ``pretrain``, ``ce``, ``linear`` and ``knn`` (SupContrast's names).

Each command has its own configuration. ``pretrain`` and ``ce`` take dataset-aware defaults
(:meth:`PretrainConfig.preset`): ``--dataset digits`` trains the small CNN recipe of
``configs/digits_supcon.yaml`` in about a minute on a CPU, ``--dataset cifar10`` SupContrast's
ResNet-50 recipe (``configs/supcon_cifar10.yaml``); a YAML file and explicit options override them.
``linear`` and ``knn`` take the network, the data set, its split and image size from the
checkpoint unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any, ClassVar

from contrastlab.config.choices import (
    BAD_FILE_POLICIES,
    CIFAR_SOURCES,
    FOLDER_LABELS,
    HEADS,
    IMAGE_ENCODERS,
    IMAGE_SOURCES,
    PRETRAIN_METHODS,
    STEMS,
)
from contrastlab.config.options import Config, option
from contrastlab.config.training import MAX_BATCH, RunOptions, TrainConfig

CIFAR_TRAIN_IMAGES = 50_000
MAX_IMAGE_SIZE = 2048
MAX_WORKERS = 256

# The digits recipe (configs/digits_supcon.yaml, configs/digits_simclr.yaml): a small CNN on the
# 8x8 digits upsampled to 16x16, one thread (a small CNN runs best on one thread per process).
_DIGITS = {
    "model": "smallcnn", "size": 16, "batch_size": 128, "epochs": 30, "cosine": True,
    "warm": True, "warm_epochs": 3, "crop_min_scale": 0.5, "flip_p": 0.0, "threads": 1,
}  # fmt: skip
_DIGITS_PRETRAIN = {**_DIGITS, "save_freq": 10, "knn_every": 5, "linear_epochs": 100}
# SupContrast's CIFAR recipes (configs/*_cifar10.yaml; the CIFAR-100 files are the same); on
# CUDA --precision auto trains them in bf16.
_CIFAR = {
    "model": "resnet50", "size": 32, "batch_size": 1024, "cosine": True, "warm": True,
    "warm_epochs": 10, "weight_decay": 1e-4, "momentum": 0.9, "save_freq": 50,
}  # fmt: skip
_CIFAR_PRETRAIN = {
    **_CIFAR, "epochs": 1000, "learning_rate": 0.5, "knn_every": 10, "linear_epochs": 100,
    "linear_batch_size": 512,
}  # fmt: skip
PRETRAIN_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("digits", "supcon"): {**_DIGITS_PRETRAIN, "learning_rate": 0.1, "temp": 0.1},
    ("digits", "simclr"): {**_DIGITS_PRETRAIN, "learning_rate": 0.05, "temp": 0.5},
    ("digits", "moco"): {**_DIGITS_PRETRAIN, "learning_rate": 0.05, "temp": 0.2},
    ("cifar", "supcon"): {**_CIFAR_PRETRAIN, "temp": 0.1, "linear_learning_rate": 5.0},
    ("cifar", "simclr"): {**_CIFAR_PRETRAIN, "temp": 0.5, "linear_learning_rate": 1.0},
    ("cifar", "moco"): {**_CIFAR_PRETRAIN, "temp": 0.2, "linear_learning_rate": 1.0},
}
CE_PRESETS: dict[str, dict[str, Any]] = {
    "digits": {**_DIGITS, "learning_rate": 0.1},
    "cifar": {**_CIFAR, "epochs": 500, "learning_rate": 0.8},
}


def _preset_key(dataset: str) -> str:
    return "cifar" if dataset in CIFAR_SOURCES else dataset


@dataclass
class ImageData(Config):
    """Which images: the data set, its folder and the image side."""

    dataset: str | None = option(
        "digits",
        "digits (scikit-learn's bundled 8x8 digits) | cifar10 | cifar100 | folder "
        "(<class>/<image> under --data_folder; pretrain also reads any tree of images with "
        "--labels none)",
        choices=IMAGE_SOURCES,
    )
    data_folder: str | None = option(
        None,
        "data directory: the CIFAR python archives (cifar10, cifar100) or <class>/<image> "
        "folders (folder); unused by digits",
    )
    download: bool = option(
        False,
        "allow downloading a missing CIFAR archive into --data_folder (nothing else is ever "
        "downloaded)",
    )
    val_size: int | None = option(
        None,
        "CIFAR only: training images held out (stratified) for validation, default 5000; 0 "
        "trains on all 50000 and chooses nothing on validation (the last epoch is kept)",
        low=0,
        high=CIFAR_TRAIN_IMAGES - 1,
    )
    size: int | None = option(
        32, "image side in pixels (images are resized to size x size)", low=1,
        high=MAX_IMAGE_SIZE,
    )  # fmt: skip

    def check(self) -> None:
        super().check()
        if self.val_size is not None and self.dataset not in (None, *CIFAR_SOURCES):
            raise ValueError(
                f"--val_size applies to {' and '.join(CIFAR_SOURCES)}; --dataset "
                f"{self.dataset} has a fixed validation fraction"
            )
        if self.dataset not in (None, "digits") and not self.data_folder:
            raise ValueError(
                f"--dataset {self.dataset} needs --data_folder (the directory holding the data)"
            )


@dataclass
class ImageTrainConfig(TrainConfig, ImageData):
    """Options shared by ``pretrain`` and ``ce``: the network and the training augmentation."""

    model: str = option("resnet18", "encoder", choices=IMAGE_ENCODERS)
    stem: str = option(
        "cifar",
        "ResNet stem: cifar (3x3 conv, stride 1, no max-pool) | imagenet (7x7 stride-2 conv, "
        "max-pool); smallcnn takes cifar only",
        choices=STEMS,
    )
    crop_min_scale: float = option(
        0.2, "smallest area fraction of the random resized crop", low=0.0, open_low=True, high=1.0
    )
    flip_p: float = option(0.5, "horizontal-flip probability", low=0.0, high=1.0)
    eval_batch_size: int = option(
        512, "batch size when encoding features or predicting for evaluation (no gradients)",
        low=1, high=MAX_BATCH,
    )  # fmt: skip

    def __post_init__(self) -> None:
        # As in SupContrast: a batch larger than 256 always warms up.
        if isinstance(self.batch_size, int) and self.batch_size > 256:
            self.warm = True
        super().__post_init__()

    def check(self) -> None:
        super().check()
        if self.model == "smallcnn" and self.stem != "cifar":
            raise ValueError("--model smallcnn has only the cifar stem: drop --stem imagenet")


@dataclass
class FolderReading(ImageData):
    """How ``--dataset folder`` is read (``pretrain`` and ``ce``): held in memory when it fits
    ``--in_memory_mb``, else streamed from disk by ``--workers`` processes; unreadable files as
    ``--on_bad_file`` says. The options of :attr:`folder_only_options` are refused for other
    data sets."""

    folder_only_options: ClassVar[tuple[str, ...]] = ("workers", "in_memory_mb", "on_bad_file")

    in_memory_mb: int = option(
        1024,
        "folder: hold the set in memory, each image resized to --size, when files x 3 x size^2 "
        "bytes fit in this many MiB; else stream it: --workers processes decode the files and "
        "cut the random resized crops at full resolution (0: always stream)",
        low=0,
        high=1 << 30,
    )
    workers: int = option(
        4,
        "folder, streamed: DataLoader worker processes decoding images (0: the main process); "
        "memory stays near workers x 2 x batch images",
        low=0,
        high=MAX_WORKERS,
    )
    on_bad_file: str = option(
        "error",
        "folder: an unreadable image file stops the run with an error naming it (error) or is "
        "left out (skip; a streamed training file is replaced by the next readable one; one "
        "warning counts and names them, and a streamed run lists them in summary.json)",
        choices=BAD_FILE_POLICIES,
    )

    def check(self) -> None:
        super().check()
        folder_only = self._changed(self.folder_only_options)
        if self.dataset != "folder" and folder_only:
            raise ValueError(f"{', '.join(folder_only)} apply to --dataset folder only")


@dataclass
class PretrainConfig(ImageTrainConfig, FolderReading):
    """Options of ``contrastlab pretrain`` (main_supcon, plus MoCo)."""

    folder_only_options: ClassVar[tuple[str, ...]] = (
        "labels", "eval_folder", *FolderReading.folder_only_options,
    )  # fmt: skip

    method: str = option(
        "supcon",
        "supcon (images of a class are positives; uses the labels) | simclr (views of an image "
        "are positives) | moco (MoCo v2, see --moco_*)",
        choices=PRETRAIN_METHODS,
    )
    temp: float = option(0.07, "loss temperature", low=1e-4, high=100.0)
    head: str = option(
        "mlp", "projection head: mlp (Linear-ReLU-Linear) | linear, to --feat_dim", choices=HEADS
    )
    feat_dim: int = option(128, "output dimension of the projection head", low=1, high=65536)
    n_views: int = option(2, "augmented views per image, >= 2 for simclr", low=1, high=64)
    moco_queue_size: int = option(4096, "moco: queued keys K", low=1, high=1 << 24)
    moco_momentum: float = option(
        0.999, "moco: momentum m of the key encoder's moving average", low=0.0, high=1.0,
        open_high=True,
    )  # fmt: skip
    moco_supervised: bool = option(
        False, "moco: queue entries of the anchor's class are positives too (uses the labels)"
    )
    moco_shuffle_bn: bool = option(
        True,
        "MoCo's shuffling BN: keys encoded on a shuffled batch (across processes under "
        "torchrun, in --moco_bn_splits parts in one process), then put back in order",
    )
    moco_bn_splits: int = option(
        1,
        "MoCo in one process: encode the shuffled key batch in N batch-norm batches, as N GPUs "
        "would (1: one batch, nothing to shuffle)",
        low=1,
        high=MAX_BATCH,
    )
    knn_every: int = option(
        1, "weighted-kNN accuracy on validation every N epochs and at the last (0: off)", low=0
    )
    knn_k: int = option(
        200, "neighbours of the kNN monitor (cosine similarity; at most the training set size)",
        low=1, high=100_000,
    )  # fmt: skip
    linear: bool = option(
        False,
        "linear evaluation of the last checkpoint afterwards, into the same run directory",
    )
    linear_epochs: int = option(100, "epochs of the --linear classifier", low=1, high=100_000)
    linear_learning_rate: float = option(
        0.1, "learning rate of the --linear classifier", low=0.0, open_low=True, high=1000.0
    )
    linear_batch_size: int = option(
        256, "batch size of the --linear classifier", low=1, high=MAX_BATCH
    )
    labels: str = option(
        "folders",
        "folder: folders (<class>/<image>, the class is the sub-folder) | none (every image "
        "anywhere under --data_folder, no labels: --method simclr or moco)",
        choices=FOLDER_LABELS,
    )
    eval_folder: str | None = option(
        None,
        "folder: a labelled <class>/<image> folder for the kNN monitor and --linear (split "
        "into train / val / test with --seed); then every image of --data_folder trains. "
        "Without it a labelled folder held in memory is split for both, a streamed or "
        "unlabelled one has no kNN monitor",
    )

    @classmethod
    def preset_fields(cls) -> frozenset[str]:
        return frozenset(name for preset in PRETRAIN_PRESETS.values() for name in preset)

    @classmethod
    def preset(cls, chosen: Mapping[str, Any], given: Set[str]) -> dict[str, Any]:
        """The recipe of ``(--dataset, --method)`` when there is one (module docstring)."""
        key = (_preset_key(str(chosen.get("dataset"))), str(chosen.get("method")))
        return dict(PRETRAIN_PRESETS.get(key, {}))

    def check(self) -> None:
        super().check()
        if self.method == "simclr" and self.n_views < 2:
            raise ValueError(f"--method simclr needs --n_views >= 2, got {self.n_views}")
        if self.moco_bn_splits > 1 and not self.moco_shuffle_bn:
            raise ValueError(
                "--moco_bn_splits > 1 needs --moco_shuffle_bn (the parts are of a shuffled batch)"
            )
        moco_only = self._changed(("moco_queue_size", "moco_momentum", "moco_supervised",
                                   "moco_shuffle_bn", "moco_bn_splits"))  # fmt: skip
        if self.method != "moco" and moco_only:
            raise ValueError(f"{', '.join(moco_only)} apply to --method moco only")
        if self.method == "moco" and self.n_views != 2:
            raise ValueError("--method moco contrasts a query with a key: 2 views (drop --n_views)")
        if self.labels == "none":
            if self.method == "supcon" or self.moco_supervised:
                raise ValueError(
                    "--labels none: supcon and --moco_supervised need class labels; use "
                    "--method simclr or moco, or a <class>/<image> folder with --labels folders"
                )
            if self.linear and not self.eval_folder:
                raise ValueError(
                    "--linear needs labelled images: give --eval_folder DIR (<class>/<image>)"
                )
        if self.moco_bn_splits > self.batch_size:
            raise ValueError(
                f"--moco_bn_splits {self.moco_bn_splits} cannot split a batch of "
                f"{self.batch_size} (--batch_size)"
            )


@dataclass
class CEConfig(ImageTrainConfig, FolderReading):
    """Options of ``contrastlab ce`` (main_ce): the supervised cross-entropy baseline; a
    ``--dataset folder`` too large for ``--in_memory_mb`` is streamed
    (:mod:`contrastlab.pipelines.cross_entropy`)."""

    learning_rate: float = option(
        0.2, "initial SGD learning rate (main_ce's)", low=0.0, open_low=True, high=1000.0
    )

    @classmethod
    def preset_fields(cls) -> frozenset[str]:
        return frozenset(name for preset in CE_PRESETS.values() for name in preset)

    @classmethod
    def preset(cls, chosen: Mapping[str, Any], given: Set[str]) -> dict[str, Any]:
        """The recipe of ``--dataset`` when there is one (module docstring)."""
        return dict(CE_PRESETS.get(_preset_key(str(chosen.get("dataset"))), {}))


@dataclass
class CheckpointEvaluation(RunOptions, ImageData):
    """Options shared by ``linear`` and ``knn``: a pretraining checkpoint and the data it is
    evaluated on (by default the checkpoint's own data set, split and image size)."""

    ckpt: str = option("", "pretraining checkpoint to evaluate, contrastlab's or SupContrast's")
    dataset: str | None = option(
        None,
        "data set to evaluate on (default: the checkpoint's); digits | cifar10 | cifar100 | folder",
        choices=IMAGE_SOURCES,
    )
    size: int | None = option(
        None, "image side in pixels (default: the checkpoint's)", low=1, high=MAX_IMAGE_SIZE
    )
    val_size: int | None = option(
        None,
        "CIFAR only: training images held out for validation (default: what the checkpoint's "
        "pretraining held out; another value warns, as the encoder may have seen those images)",
        low=0,
        high=CIFAR_TRAIN_IMAGES - 1,
    )
    eval_batch_size: int = option(512, "batch size when encoding features", low=1, high=MAX_BATCH)

    def check(self) -> None:
        if not self.ckpt:
            raise ValueError("--ckpt PATH is required (a pretraining checkpoint, e.g. last.pth)")
        super().check()


@dataclass
class LinearConfig(CheckpointEvaluation):
    """Options of ``contrastlab linear`` (main_linear): as there, ``--epochs``,
    ``--learning_rate`` and ``--batch_size`` are the linear classifier's."""

    epochs: int = option(100, "epochs of the linear classifier", low=1, high=100_000)
    learning_rate: float = option(
        0.1, "learning rate of the linear classifier", low=0.0, open_low=True, high=1000.0
    )
    batch_size: int = option(256, "batch size of the linear classifier", low=1, high=MAX_BATCH)


@dataclass
class KNNConfig(CheckpointEvaluation):
    """Options of ``contrastlab knn``: weighted kNN (cosine) of a checkpoint's features. It prints
    its figures and writes no run directory."""

    out: str | None = option(None, "knn writes no run directory", cli=False)
    overwrite: bool = option(False, "knn writes no run directory", cli=False)

    knn_k: int = option(
        200, "neighbours of the weighted kNN (at most the training set size)", low=1,
        high=100_000,
    )  # fmt: skip
