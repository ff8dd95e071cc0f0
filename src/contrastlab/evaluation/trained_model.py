"""Any trained contrastlab network, ready to embed with or to export: :func:`load_trained_model`.

Checkpoints read:

- image: ``contrastlab pretrain`` checkpoints and SupContrast's (encoder + projection head),
  ``contrastlab ce`` checkpoints (encoder + classifier), through
  :func:`~contrastlab.evaluation.checkpoint_evaluation.load_pretrained_image_network`;
- signal: ``bearing``'s ``model.pt`` (:mod:`contrastlab.models.diagnosis_model`: encoder +
  classifier, its sample rate, window length, channels and training normalisation) and signal
  pretraining checkpoints (``last.pth`` with a signal ``model_spec``: encoder, and the projection
  head of simclr / supcon / siamese runs; ``bearing``'s also record the sample rate, window and
  normalisation in ``data_facts``).

Every part is wrapped with its input normalisation (:class:`WithInputNormalization`), so what it
takes is what a user has:

- images: float ``[B, C, size, size]`` RGB (or gray) in [0, 1]; normalised inside with the
  checkpoint's per-channel mean and std;
- signals: float ``[B, C, window_length]`` windows as recorded; standardised inside with the
  training statistics when the checkpoint records them (else fed as they are, as in training).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contrastlab.evaluation.checkpoint_evaluation import load_pretrained_image_network
from contrastlab.models.diagnosis_model import MODEL_FORMAT, load_diagnosis_model
from contrastlab.models.signal_spec import build_projection_network, build_signal_encoder
from contrastlab.models.supcon_resnet import SupCEResNet
from contrastlab.training.checkpoint import load_checkpoint


class WithInputNormalization(nn.Module):
    """``network((x - mean[c]) / std[c])`` for ``x [B, C, ...]``; mean and std are buffers shaped
    ``[C, 1, ...]`` for inputs of ``spatial_dims`` trailing dimensions (identity without them)."""

    def __init__(
        self,
        network: nn.Module,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        self.network = network
        self.normalize = mean is not None
        if mean is not None and std is not None:
            if len(mean) != len(std) or any(not float(s) > 0 for s in std):
                raise ValueError(f"bad normalisation: mean {list(mean)}, std {list(std)}")
            shape = (-1,) + (1,) * spatial_dims
            self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(shape))
            self.register_buffer("std", torch.tensor([float(s) for s in std]).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = (x - self.mean) / self.std
        return self.network(x)


@dataclass
class TrainedModel:
    """A trained network's parts and what its input is.

    Attributes:
        modality: ``"image"`` or ``"signal"``.
        kind: the checkpoint's kind (``supcon``, ``ce``, ``diagnosis``, ``signal-simclr``, ...).
        parts: ``{"encoder": ..., "projection": ..., "classifier": ...}``, the ones the
            checkpoint holds, each a :class:`WithInputNormalization` in eval mode on the CPU.
        input_shape: one sample's shape: ``(C, size, size)`` or ``(C, window_length)``.
        facts: what else a user of the network needs: ``size``, ``mean``, ``std`` (images);
            ``sample_rate_hz`` (or None), ``window_length``, ``channels``, ``normalization``
            (signals); ``class_names``.
    """

    modality: str
    kind: str
    parts: dict[str, nn.Module]
    input_shape: tuple[int, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    def part(self, name: str, path: str | os.PathLike[str]) -> nn.Module:
        """The part ``name``; ValueError naming the parts ``path`` holds when it has no such."""
        if name not in self.parts:
            raise ValueError(
                f"{path} ({self.kind}) has no {name}; it holds: {', '.join(self.parts)}"
            )
        return self.parts[name]


def _image_model(path: Path) -> TrainedModel:
    network, spec, _ = load_pretrained_image_network(path, "cpu", kinds=("supcon", "ce"))
    if "mean" not in spec or "std" not in spec:
        raise ValueError(
            f"{path} does not record its input normalisation (mean / std): a SupContrast "
            "checkpoint of a data set other than cifar10 / cifar100?"
        )
    kind = "ce" if isinstance(network, SupCEResNet) else "supcon"
    second = "classifier" if kind == "ce" else "projection"
    parts = {"encoder": network.encoder, second: network}
    size = int(spec.get("size") or 32)
    return TrainedModel(
        "image",
        kind,
        {
            name: WithInputNormalization(p, spec["mean"], spec["std"], 2)
            for name, p in parts.items()
        },
        (int(spec.get("in_channels", 3)), size, size),
        {
            "size": size,
            "mean": list(spec["mean"]),
            "std": list(spec["std"]),
            "class_names": list(spec.get("class_names") or []),
        },
    )


def _signal_wrapped(
    parts: dict[str, nn.Module], normalization: dict[str, Any] | None
) -> dict[str, nn.Module]:
    mean = None if normalization is None else normalization["mean"]
    std = None if normalization is None else normalization["std"]
    return {name: WithInputNormalization(part, mean, std, 1).eval() for name, part in parts.items()}


def _diagnosis_model(path: Path) -> TrainedModel:
    model = load_diagnosis_model(path)
    classifier = model.classifier
    return TrainedModel(
        "signal",
        "diagnosis",
        _signal_wrapped(
            {"encoder": classifier.encoder, "classifier": classifier}, model.normalization
        ),
        (len(model.channels), model.window_length),
        {
            "sample_rate_hz": model.sample_rate_hz,
            "window_length": model.window_length,
            "channels": list(model.channels),
            "normalization": model.normalization,
            "class_names": list(model.class_names),
        },
    )


def _load_part(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{path}: weights do not fit the stored spec: {str(error).splitlines()[0]}"
        ) from error
    return module


def _signal_checkpoint(path: Path, checkpoint: dict[str, Any]) -> TrainedModel:
    spec = checkpoint["model_spec"]
    state = checkpoint["model"]
    encoder_state = {
        key.removeprefix("encoder."): value
        for key, value in state.items()
        if key.startswith("encoder.")
    }
    parts: dict[str, nn.Module] = {
        "encoder": _load_part(build_signal_encoder(spec), encoder_state, path)
    }
    if any(key.startswith("head.") for key in state):
        method = (checkpoint.get("config") or {}).get("method")
        projection = build_projection_network(spec, normalize=method != "siamese")
        parts["projection"] = _load_part(projection, state, path)
    facts = dict(checkpoint.get("data_facts") or {})
    window_length = int(facts.get("window_length") or spec.get("input_length") or 0)
    if window_length < 1:
        raise ValueError(f"{path} does not record its window length (model_spec input_length)")
    return TrainedModel(
        "signal",
        str(checkpoint.get("kind") or "signal"),
        _signal_wrapped(parts, facts.get("normalization")),
        (int(spec["in_channels"]), window_length),
        {
            "sample_rate_hz": facts.get("sample_rate_hz"),
            "window_length": window_length,
            "channels": list(facts.get("channels") or []),
            "normalization": facts.get("normalization"),
            "class_names": list(facts.get("class_names") or checkpoint.get("class_names") or []),
        },
    )


def _payload_format(path: Path) -> str | None:
    """The ``format`` entry of a torch file holding a dict (None for others)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a plain-data torch file: load_checkpoint says why below
        return None
    return payload.get("format") if isinstance(payload, dict) else None


def load_trained_model(path: str | os.PathLike[str]) -> TrainedModel:
    """The network of any checkpoint of the module docstring, on the CPU in eval mode.

    Raises FileNotFoundError for a missing file and ValueError for a file that is none of them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if _payload_format(path) == MODEL_FORMAT:
        return _diagnosis_model(path)
    checkpoint = load_checkpoint(path)
    spec = checkpoint.get("model_spec")
    if isinstance(spec, dict) and "backbone" in spec:
        return _signal_checkpoint(path, checkpoint)
    return _image_model(path)
