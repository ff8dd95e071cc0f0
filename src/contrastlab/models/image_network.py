"""Image networks as checkpoints describe them: a plain-data *spec* and how to rebuild from it.

The spec stored in every image checkpoint (``model_spec``)::

    {"model", "stem", "head", "feat_dim", "in_channels", "size", "mean", "std",
     "class_names", "dataset", "data_folder", "seed"}

rebuilds the network (:func:`build_pretrain_network`, :func:`build_ce_network`), its evaluation
transform (size, normalisation) and its data split (data set, folder, seed), so evaluating a
checkpoint can never score images it trained on. Checkpoints of the SupContrast reference code
hold no spec: :func:`supcontrast_spec` builds one from their ``opt``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from contrastlab.models.supcon_resnet import SupCEResNet, SupConResNet

SUPCONTRAST_NORMALISATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
"""The constants SupContrast normalised with; used for checkpoints it wrote."""


def image_model_spec(
    model: str,
    stem: str,
    head: str,
    feat_dim: int,
    size: int,
    metadata: dict[str, Any],
    class_names: list[str],
    dataset: str,
    data_folder: str | None,
    seed: int,
) -> dict[str, Any]:
    """The spec of a network trained on a data source whose ``metadata`` gives ``in_channels``,
    ``mean`` and ``std`` (see the module docstring)."""
    return {
        "model": model,
        "stem": stem,
        "head": head,
        "feat_dim": feat_dim,
        "in_channels": int(metadata["in_channels"]),
        "size": size,
        "mean": list(metadata["mean"]),
        "std": list(metadata["std"]),
        "class_names": list(class_names),
        "dataset": dataset,
        "data_folder": data_folder,
        "seed": seed,
    }


def build_pretrain_network(spec: dict[str, Any]) -> SupConResNet:
    """Encoder + projection head of ``spec``."""
    return SupConResNet(
        spec["model"],
        head=spec.get("head", "mlp"),
        feat_dim=spec.get("feat_dim", 128),
        in_channels=spec.get("in_channels", 3),
        stem=spec.get("stem", "cifar"),
    )


def build_ce_network(spec: dict[str, Any]) -> SupCEResNet:
    """Encoder + linear classifier over ``spec``'s classes."""
    return SupCEResNet(
        spec["model"],
        num_classes=len(spec["class_names"]),
        in_channels=spec.get("in_channels", 3),
        stem=spec.get("stem", "cifar"),
    )


def supcontrast_spec(options: dict[str, Any]) -> dict[str, Any]:
    """The spec of a SupContrast checkpoint, from its ``opt`` (its CIFAR normalisation)."""
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
    return spec


def check_images_fit(model: nn.Module, images: torch.Tensor, transform: nn.Module) -> None:
    """Fail before any long work when ``images`` (a few, as stored) do not fit ``model`` after
    ``transform`` (size, channels): ValueError naming the shape."""
    device = next(model.parameters()).device
    sample = transform.to(device)(images[:2].to(device))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(sample)
    except (ValueError, RuntimeError) as error:
        raise ValueError(
            f"images of shape {tuple(images.shape[1:])} do not fit the model: "
            f"{str(error).splitlines()[0]}"
        ) from error
    finally:
        model.train(was_training)
