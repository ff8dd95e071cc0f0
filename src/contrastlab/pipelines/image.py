"""The SupContrast recipes as one pipeline.

SupCon / SimCLR pretraining, the cross-entropy baseline, linear evaluation and a kNN monitor, on
any image source, on CPU, one GPU or many (torchrun).

Every run writes to its directory: ``config.yaml``, checkpoints (``last.pth``,
``ckpt_epoch_N.pth``), ``metrics.jsonl``, ``tensorboard/``, PNG plots and ``summary.json`` with
the final figures.

Validation: CIFAR holds ``--val_size`` training images out (5000 by default). With
``--val_size 0`` every training image is trained on, as in SupContrast, and nothing is chosen on
validation: the kNN monitor is off, ``ce`` and ``linear`` score the last epoch's weights on test
(once), ``val_top1`` is null in ``summary.json`` and ``best_epoch`` / ``linear_best_epoch`` name
that last epoch; ``knn`` reports test only. ``linear`` and ``knn`` hold out what the checkpoint's
pretraining held out unless ``--val_size`` says otherwise (with a warning: the encoder may have
trained on the images of another validation split).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastlab._checks import check_int
from contrastlab.data.cifar import CIFAR_VAL_SIZE
from contrastlab.data.image_augment import (
    ContrastiveImageAugment,
    EvalImageTransform,
    SupervisedImageAugment,
)
from contrastlab.data.image_sources import IMAGE_SOURCES, load_image_source
from contrastlab.data.splits import DataSplits
from contrastlab.evaluation.features import encode_splits
from contrastlab.evaluation.knn import knn_accuracy
from contrastlab.evaluation.linear_probe import linear_probe, probe_splits
from contrastlab.evaluation.metrics import topk_accuracy
from contrastlab.evaluation.plots import plot_training_curves, plot_tsne
from contrastlab.methods import ContrastiveViewsMethod, CrossEntropyMethod, MoCoMethod
from contrastlab.models.registry import ENCODER_NAMES
from contrastlab.models.supcon_resnet import SupCEResNet, SupConResNet
from contrastlab.training import distributed
from contrastlab.training.checkpoint import load_checkpoint, save_checkpoint
from contrastlab.training.config import TrainConfig
from contrastlab.training.devices import resolve_device
from contrastlab.training.loop import fit
from contrastlab.training.rng import seed_everything

PRETRAIN_METHODS = ("supcon", "simclr", "moco")
CIFAR_SOURCES = ("cifar10", "cifar100")

SUPCONTRAST_NORMALISATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
"""The constants SupContrast normalised with; used for checkpoints it wrote."""

_DATA_OPTIONS = ("dataset", "data_folder", "size", "seed")


@dataclass
class ImageConfig(TrainConfig):
    """Options of ``contrastlab pretrain | ce | linear | knn`` (SupContrast's names).

    As in SupContrast, a batch larger than 256 always uses the learning-rate warm-up, and when
    ``lr_decay_epochs`` is empty the step schedule decays at 70, 80 and 90% of the epochs.

    ``val_size`` (CIFAR only; None keeps the loader's 5000): training images held out, stratified,
    for validation; 0 trains on all of them and chooses nothing on validation (see the module
    docstring). ``linear`` and ``knn`` take the checkpoint's value when ``val_size`` is None and
    warn when it is another one.
    """

    method: str = "supcon"
    model: str = "resnet18"
    stem: str = "cifar"
    dataset: str = "digits"
    data_folder: str | None = None
    download: bool = False
    val_size: int | None = None
    size: int = 32
    temp: float = 0.07
    head: str = "mlp"
    feat_dim: int = 128
    n_views: int = 2
    crop_min_scale: float = 0.2
    flip_p: float = 0.5
    moco_queue_size: int = 4096
    moco_momentum: float = 0.999
    moco_supervised: bool = False
    moco_shuffle_bn: bool = True
    moco_bn_splits: int = 1
    knn_every: int = 1
    knn_k: int = 200
    linear: bool = False
    linear_epochs: int = 100
    linear_learning_rate: float = 0.1
    linear_batch_size: int = 256
    eval_batch_size: int = 512
    ckpt: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, int) and self.batch_size > 256:
            self.warm = True

    def validate(self) -> None:
        super().validate()
        if self.method not in (*PRETRAIN_METHODS, "ce"):
            raise ValueError(
                f"unknown --method {self.method!r}; valid: {', '.join((*PRETRAIN_METHODS, 'ce'))}"
            )
        if self.model not in ENCODER_NAMES:
            raise ValueError(f"unknown --model {self.model!r}; valid: {', '.join(ENCODER_NAMES)}")
        if self.dataset not in IMAGE_SOURCES:
            raise ValueError(
                f"unknown --dataset {self.dataset!r}; valid: {', '.join(IMAGE_SOURCES)}"
            )
        for name, choices in (("head", ("mlp", "linear")), ("stem", ("cifar", "imagenet"))):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"--{name} must be one of {list(choices)}, got {getattr(self, name)!r}"
                )
        for name in (
            "size",
            "feat_dim",
            "knn_k",
            "linear_epochs",
            "linear_batch_size",
            "eval_batch_size",
            "moco_queue_size",
            "moco_bn_splits",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)!r}")
        if self.knn_every < 0:
            raise ValueError(
                f"--knn_every must be >= 0 (0 turns the monitor off), got {self.knn_every}"
            )
        if not self.linear_learning_rate > 0 or not self.temp > 0:
            raise ValueError("--linear_learning_rate and --temp must be > 0")
        if not 0 < self.crop_min_scale <= 1 or not 0 <= self.flip_p <= 1:
            raise ValueError("--crop_min_scale must be in (0, 1] and --flip_p in [0, 1]")
        if self.n_views < 1 or (self.method == "simclr" and self.n_views < 2):
            raise ValueError(f"--n_views must be >= 1 (>= 2 for simclr), got {self.n_views}")
        if not 0 <= self.moco_momentum < 1:
            raise ValueError(f"--moco_momentum must be in [0, 1), got {self.moco_momentum}")
        if self.moco_bn_splits > 1 and not self.moco_shuffle_bn:
            raise ValueError(
                "--moco_bn_splits > 1 needs --moco_shuffle_bn (the parts are of a shuffled batch)"
            )
        if self.moco_bn_splits > self.batch_size:
            raise ValueError(
                f"--moco_bn_splits {self.moco_bn_splits} cannot split a batch of "
                f"{self.batch_size} (--batch_size)"
            )
        if self.val_size is not None:
            check_int("--val_size", self.val_size, minimum=0)
            if self.dataset not in CIFAR_SOURCES:
                raise ValueError(
                    f"--val_size applies to {' and '.join(CIFAR_SOURCES)}; --dataset "
                    f"{self.dataset} has a fixed validation fraction"
                )

    def run_dir(self, default_name: str) -> Path:
        return Path(self.out) if self.out else Path("runs") / default_name


def load_data(config: ImageConfig) -> DataSplits:
    options = {} if config.val_size is None else {"val_size": config.val_size}
    return load_image_source(
        config.dataset,
        data_dir=config.data_folder,
        size=config.size,
        download=config.download,
        seed=config.seed,
        **options,
    )


def _evaluated_splits(data: DataSplits) -> tuple[str, ...]:
    """The splits to encode for evaluation: validation only when it holds samples."""
    return ("train", "val", "test") if len(data.val) else ("train", "test")


def _model_spec(config: ImageConfig, data: DataSplits) -> dict[str, Any]:
    """Everything needed to rebuild the network, its input transform and its data split."""
    return {
        "model": config.model,
        "stem": config.stem,
        "head": config.head,
        "feat_dim": config.feat_dim,
        "in_channels": int(data.metadata["in_channels"]),
        "size": config.size,
        "mean": list(data.metadata["mean"]),
        "std": list(data.metadata["std"]),
        "class_names": list(data.class_names),
        "dataset": config.dataset,
        "data_folder": config.data_folder,
        "seed": config.seed,
    }


def _module_device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _check_fits(model: nn.Module, data: DataSplits, transform: nn.Module) -> None:
    """Fail before any long work when the images do not fit the network (size, channels)."""
    sample = transform(data.train.inputs[:2].to(_module_device(model)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    except (ValueError, RuntimeError) as error:
        raise ValueError(
            f"images of shape {tuple(data.input_shape)} do not fit the model: {error}"
        ) from error
    finally:
        model.train(was_training)


def _encode(
    encoder: nn.Module,
    data: DataSplits,
    transform: nn.Module,
    batch_size: int,
    splits: tuple[str, ...] = ("train", "val", "test"),
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    transform = transform.to(_module_device(encoder))
    return encode_splits(encoder, data, batch_size, splits, transform=transform, progress=progress)


def _write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / "summary.json"
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing.update(summary)
    path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    return path


@dataclass
class _Setup:
    data: DataSplits
    spec: dict[str, Any]
    eval_transform: EvalImageTransform
    augment: ContrastiveImageAugment


def _set_up(
    config: ImageConfig,
    model_factory: Callable[[dict[str, Any]], nn.Module],
    augment_class: type[ContrastiveImageAugment],
) -> tuple[_Setup, nn.Module]:
    """Load the data, seed, build the model, check that the images fit it and build the training
    augmentation (``augment_class`` with the data's normalisation and the configured crop/flip)."""
    data = load_data(config)
    spec = _model_spec(config, data)
    seed_everything(config.seed)
    model = model_factory(spec)
    eval_transform = EvalImageTransform(config.size, spec["mean"], spec["std"])
    _check_fits(model, data, eval_transform)
    augment = augment_class(
        config.size,
        spec["mean"],
        spec["std"],
        scale=(config.crop_min_scale, 1.0),
        flip_p=config.flip_p,
    )
    return _Setup(data, spec, eval_transform, augment), model


def _pretrain_method(config: ImageConfig, model: nn.Module, augment: nn.Module) -> nn.Module:
    """The "views -> loss" method of ``config.method`` for ``model`` (built and initialised)."""
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
        )
    return ContrastiveViewsMethod(
        augment, method=config.method, temperature=config.temp, n_views=config.n_views
    )


def pretrain(config: ImageConfig) -> dict[str, Any]:
    """SupCon, SimCLR or MoCo pretraining (main_supcon), then optionally linear evaluation."""
    if config.method not in PRETRAIN_METHODS:
        raise ValueError(
            f"pretrain --method must be one of {', '.join(PRETRAIN_METHODS)}, got {config.method!r}"
        )
    run_dir = config.run_dir(f"{config.dataset}-{config.method}")
    setup, model = _set_up(
        config,
        lambda spec: SupConResNet(
            config.model,
            head=config.head,
            feat_dim=config.feat_dim,
            in_channels=spec["in_channels"],
            stem=config.stem,
        ),
        ContrastiveImageAugment,
    )
    data, spec = setup.data, setup.spec
    method = _pretrain_method(config, model, setup.augment)

    def knn_monitor(trained: nn.Module, epoch: int) -> dict[str, float]:
        if config.knn_every == 0 or (epoch % config.knn_every and epoch != config.epochs):
            return {}
        if len(data.val) == 0:  # --val_size 0: nothing to monitor on (never the test split)
            return {}
        features = _encode(
            trained.encoder, data, setup.eval_transform, config.eval_batch_size, ("train", "val")
        )
        accuracy = knn_accuracy(
            features["train"],
            data.train.labels,
            features["val"],
            data.val.labels,
            data.num_classes,
            k=min(config.knn_k, len(data.train)),
        )
        return {"knn_val_top1": accuracy}

    result = fit(
        model,
        method,
        data.train,
        config,
        run_dir,
        evaluate=knn_monitor,
        checkpoint_extra={"model_spec": spec, "kind": "supcon"},
    )
    summary: dict[str, Any] = {"method": config.method, "epochs": config.epochs}
    if distributed.is_main_process():
        if result.history:
            summary["final_loss"] = result.history[-1]["loss"]
            if "knn_val_top1" in result.history[-1]:
                summary["knn_val_top1"] = result.history[-1]["knn_val_top1"]
        plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
        _write_summary(run_dir, summary)
        if config.linear and result.last_checkpoint is not None:
            linear_config = copy.copy(config)
            linear_config.ckpt = str(result.last_checkpoint)
            linear_config.out = str(run_dir)
            summary.update(linear_eval(linear_config, data=data))
    return summary


def _load_encoder(
    checkpoint_path: str, device: torch.device
) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Rebuild the pretrained network of a contrastlab or SupContrast checkpoint.

    Returns the network (eval mode, on ``device``), its model spec and the options it was
    pretrained with (the checkpoint's ``config``; empty when it holds none).
    """
    checkpoint = load_checkpoint(checkpoint_path, map_location="cpu")
    options = checkpoint.get("config") or {}
    spec = checkpoint.get("model_spec")
    if spec is None:  # a SupContrast checkpoint: its opt holds model, head, feat_dim, dataset
        spec = {
            "model": options.get("model", "resnet50"),
            "head": options.get("head", "mlp"),
            "feat_dim": options.get("feat_dim", 128),
            "in_channels": 3,
            "stem": "cifar",
            "dataset": options.get("dataset"),
        }
        if spec["dataset"] in SUPCONTRAST_NORMALISATION:
            mean, std = SUPCONTRAST_NORMALISATION[spec["dataset"]]
            spec.update(mean=list(mean), std=list(std))
    model = SupConResNet(
        spec["model"],
        head=spec.get("head", "mlp"),
        feat_dim=spec.get("feat_dim", 128),
        in_channels=spec.get("in_channels", 3),
        stem=spec.get("stem", "cifar"),
    )
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise ValueError(
            f"{checkpoint_path} does not hold a {spec['model']} SupCon network: "
            f"{str(error).splitlines()[0]}"
        ) from error
    return model.to(device).eval(), spec, options


def _evaluation_val_size(requested: int | None, pretrained: int | None) -> int | None:
    """The ``val_size`` to evaluate a checkpoint with: the pretraining's unless one is requested.

    A requested value that holds out another number of images (None meaning the loader's
    default) draws another validation split, whose images the encoder may have trained on:
    evaluation goes on with it, with a warning.
    """
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


def _evaluation_setup(
    config: ImageConfig, data: DataSplits | None
) -> tuple[nn.Module, dict[str, Any], DataSplits, EvalImageTransform]:
    """The frozen network of ``config.ckpt``, the data it is evaluated on and its transform.

    On the data set it was pretrained on, the split (seed, size, folder) is the checkpoint's own,
    so images it trained on can never be scored as test images, and so is ``val_size`` unless
    ``config.val_size`` is set (see ``_evaluation_val_size``).
    """
    if not config.ckpt:
        raise ValueError("evaluation needs --ckpt PATH (a pretraining checkpoint)")
    config.apply_threads()
    model, spec, pretrain_options = _load_encoder(config.ckpt, resolve_device(config.device))
    if spec.get("dataset") == config.dataset and "seed" in spec:
        config = copy.copy(config)
        for name in _DATA_OPTIONS:
            setattr(config, name, spec[name])
        config.val_size = _evaluation_val_size(config.val_size, pretrain_options.get("val_size"))
    data = data if data is not None else load_data(config)
    transform = EvalImageTransform(
        config.size, spec.get("mean", data.metadata["mean"]), spec.get("std", data.metadata["std"])
    ).to(_module_device(model))
    _check_fits(model, data, transform)
    return model, spec, data, transform


def linear_eval(config: ImageConfig, data: DataSplits | None = None) -> dict[str, Any]:
    """Linear probe on the frozen encoder (main_linear): epoch chosen on val, test scored once."""
    model, spec, data, transform = _evaluation_setup(config, data)
    features = _encode(
        model.encoder, data, transform, config.eval_batch_size, _evaluated_splits(data),
        progress=config.progress,
    )  # fmt: skip
    result = probe_splits(
        linear_probe,
        features,
        data,
        epochs=config.linear_epochs,
        learning_rate=config.linear_learning_rate,
        batch_size=config.linear_batch_size,
        seed=config.seed,
    )
    run_dir = config.run_dir(Path(str(config.ckpt)).parent.name + "-linear")
    run_dir.mkdir(parents=True, exist_ok=True)
    plot_tsne(
        features["test"],
        data.test.labels,
        data.class_names,
        run_dir / "tsne_test.png",
        seed=config.seed,
        title=f"t-SNE of test features ({spec['model']})",
    )
    summary = {
        "val_top1": result.val_top1,
        "test_top1": result.test_top1,
        "test_top5": result.test_top5,
        "linear_best_epoch": result.best_epoch,
    }
    with (run_dir / "linear_metrics.jsonl").open("w") as stream:
        stream.writelines(json.dumps(record) + "\n" for record in result.history)
    _write_summary(run_dir, summary)
    return summary


def knn_eval(config: ImageConfig) -> dict[str, Any]:
    """Weighted kNN (cosine, k = --knn_k) of val (when not empty) and test features against
    train features."""
    model, _, data, transform = _evaluation_setup(config, None)
    splits = _evaluated_splits(data)
    features = _encode(
        model.encoder, data, transform, config.eval_batch_size, splits, progress=config.progress
    )
    k = min(config.knn_k, len(data.train))
    return {
        split: knn_accuracy(
            features["train"],
            data.train.labels,
            features[split],
            getattr(data, split).labels,
            data.num_classes,
            k=k,
        )
        for split in splits
        if split != "train"
    }


BEST_CHECKPOINT = "best.pth"


def train_ce(config: ImageConfig) -> dict[str, Any]:
    """The cross-entropy baseline (main_ce).

    Val top-1 is measured after every epoch and the best epoch's weights are kept in
    ``best.pth`` (so a resumed run still knows them); the test split is scored once, at the end,
    with those weights. With an empty validation split (``--val_size 0``) the last epoch's
    weights are scored and ``val_top1`` is None.
    """
    run_dir = config.run_dir(f"{config.dataset}-ce")
    setup, model = _set_up(
        config,
        lambda spec: SupCEResNet(
            config.model,
            num_classes=len(spec["class_names"]),
            in_channels=spec["in_channels"],
            stem=config.stem,
        ),
        SupervisedImageAugment,
    )
    data, spec = setup.data, setup.spec
    best_path = run_dir / BEST_CHECKPOINT
    has_val = len(data.val) > 0
    best: dict[str, Any] = (
        {"val_top1": -1.0, "epoch": None} if has_val else {"val_top1": None, "epoch": config.epochs}
    )
    if has_val and config.resume and best_path.is_file():
        previous = load_checkpoint(best_path)
        best.update(val_top1=previous["val_top1"], epoch=previous["epoch"])

    def validate(trained: nn.Module, epoch: int) -> dict[str, float]:
        logits = _encode(trained, data, setup.eval_transform, config.eval_batch_size, ("val",))
        top1 = topk_accuracy(logits["val"], data.val.labels, ks=(1,))[0]
        if top1 > best["val_top1"]:
            best.update(val_top1=top1, epoch=epoch)
            save_checkpoint(
                best_path,
                {
                    "model": trained.state_dict(),
                    "epoch": epoch,
                    "val_top1": top1,
                    "model_spec": spec,
                },
            )
        return {"val_top1": top1}

    fit(
        model,
        CrossEntropyMethod(setup.augment),
        data.train,
        config,
        run_dir,
        evaluate=validate if has_val else None,
        checkpoint_extra={"model_spec": spec, "kind": "ce"},
    )
    if not distributed.is_main_process():
        return {}
    if has_val and best_path.is_file():
        model.load_state_dict(load_checkpoint(best_path)["model"])
    logits = _encode(model, data, setup.eval_transform, config.eval_batch_size, ("test",))
    test_top1, test_top5 = topk_accuracy(logits["test"], data.test.labels, ks=(1, 5))
    plot_training_curves(run_dir / "metrics.jsonl", run_dir / "training_curves.png")
    summary = {
        "method": "ce",
        "val_top1": best["val_top1"],
        "best_epoch": best["epoch"],
        "test_top1": test_top1,
        "test_top5": test_top5,
    }
    _write_summary(run_dir, summary)
    return summary
