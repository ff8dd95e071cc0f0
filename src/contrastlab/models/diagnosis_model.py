"""The diagnosis model file (``model.pt``) that ``contrastlab bearing`` writes and
``contrastlab diagnose`` reads.

It holds only plain data and state dicts, so it loads with ``torch.load(weights_only=True)``::

    {"format": "contrastlab-diagnosis-1",
     "spec": network spec (see contrastlab.models.signal_spec), "state_dict": {...},
     "class_names": [...], "sample_rate_hz": float, "window_length": int, "stride": int,
     "channels": ["DE", ...], "input": "fft" | ..., "normalization": {"mean": [...], "std": [...]}
     or None, "label_scheme": str or None, "trained_on": {...},
     "training_rpm": {"min": float, "max": float, "mean": float} or None,
     "speed_tolerance": float, "ood": OodDetector.to_dict() or None}

``training_rpm`` summarises the shaft speeds of the training recordings and ``speed_tolerance`` the
relative speed change the training views covered: ``contrastlab diagnose`` warns about a
recording whose speed lies outside ``[min (1 - tolerance), max (1 + tolerance)]``. ``ood`` is the
calibrated out-of-distribution detector of :mod:`contrastlab.evaluation.ood` (plain data; the
diagnose pipeline rebuilds it). The last three keys came with the input checks; a file written
before them loads with ``None`` / ``0.0`` (no speed or OOD check).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from contrastlab._atomic_files import atomic_write
from contrastlab.models.signal_networks import SignalClassifier
from contrastlab.models.signal_spec import build_classifier

MODEL_FORMAT = "contrastlab-diagnosis-1"
_REQUIRED = (
    "spec",
    "state_dict",
    "class_names",
    "sample_rate_hz",
    "window_length",
    "stride",
    "channels",
)


def save_diagnosis_model(
    path: str | os.PathLike[str],
    classifier: SignalClassifier,
    spec: dict[str, Any],
    class_names: Sequence[str],
    sample_rate_hz: float,
    window_length: int,
    stride: int,
    channels: Sequence[str],
    normalization: dict[str, Any] | None,
    label_scheme: str | None = None,
    trained_on: dict[str, Any] | None = None,
    training_rpm: dict[str, float] | None = None,
    speed_tolerance: float = 0.0,
    ood: dict[str, Any] | None = None,
) -> Path:
    """Write a diagnosis model file (plain data + the classifier's state dict, on CPU)."""
    if not 0.0 <= speed_tolerance < 1.0:
        raise ValueError(f"speed_tolerance must be in [0, 1), got {speed_tolerance!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in classifier.state_dict().items()}
    payload = {
        "format": MODEL_FORMAT,
        "spec": dict(spec),
        "state_dict": state,
        "class_names": list(class_names),
        "sample_rate_hz": float(sample_rate_hz),
        "window_length": int(window_length),
        "stride": int(stride),
        "channels": list(channels),
        "input": spec["input"],
        "normalization": None
        if normalization is None
        else {"mean": list(normalization["mean"]), "std": list(normalization["std"])},
        "label_scheme": label_scheme,
        "trained_on": dict(trained_on or {}),
        "training_rpm": None
        if training_rpm is None
        else {key: float(training_rpm[key]) for key in ("min", "max", "mean")},
        "speed_tolerance": float(speed_tolerance),
        "ood": None if ood is None else dict(ood),
    }
    return atomic_write(path, lambda stream: torch.save(payload, stream))


@dataclass
class DiagnosisModel:
    """A loaded diagnosis model: the classifier (eval mode, CPU) and the facts stored with it."""

    classifier: SignalClassifier
    class_names: list[str]
    sample_rate_hz: float
    window_length: int
    stride: int
    channels: list[str]
    normalization: dict[str, list[float]] | None
    info: dict[str, Any] = field(default_factory=dict)
    training_rpm: dict[str, float] | None = None
    speed_tolerance: float = 0.0
    ood: dict[str, Any] | None = None


def load_diagnosis_model(path: str | os.PathLike[str]) -> DiagnosisModel:
    """Load ``model.pt`` with ``torch.load(weights_only=True)`` and rebuild its classifier.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not a
    diagnosis model (e.g. a training checkpoint ``last.pth``) or whose weights do not fit its spec.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt / unsafe files
        raise ValueError(f"cannot load {path} as a contrastlab model file: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"{path} is not a contrastlab diagnosis model (format {MODEL_FORMAT!r}); use the "
            "model.pt that 'contrastlab bearing' writes, not a training checkpoint"
        )
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise ValueError(f"{path} lacks {missing}")
    class_names = list(payload["class_names"])
    classifier = build_classifier(payload["spec"], len(class_names))
    try:
        classifier.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise ValueError(
            f"{path}: weights do not fit the stored spec: {str(error).splitlines()[0]}"
        ) from error
    return DiagnosisModel(
        classifier=classifier.eval(),
        class_names=class_names,
        sample_rate_hz=float(payload["sample_rate_hz"]),
        window_length=int(payload["window_length"]),
        stride=int(payload["stride"]),
        channels=list(payload["channels"]),
        normalization=payload.get("normalization"),
        info={k: payload[k] for k in ("input", "label_scheme", "trained_on") if k in payload},
        training_rpm=payload.get("training_rpm"),
        speed_tolerance=float(payload.get("speed_tolerance", 0.0)),
        ood=payload.get("ood"),
    )
