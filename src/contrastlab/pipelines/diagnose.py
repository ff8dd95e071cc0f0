"""Bearing diagnosis of recordings with a trained model: ``contrastlab diagnose FILE.mat ...``.

The model file is ``model.pt`` written by ``contrastlab bearing``
(:mod:`contrastlab.models.diagnosis_model`).
Each recording ``[C, T]`` is cut into windows of ``window_length`` samples (one every
``window_length`` samples unless a stride is given), standardised with the stored training
statistics ``(x - mean_c) / std_c`` and classified: window ``i`` gets ``p_i = softmax(logits_i)``,
its class ``argmax p_i`` and confidence ``max p_i``.
The recording's verdict is the class of the **mean probability** ``p = mean_i p_i`` (with
confidence ``max p``); the majority vote over windows is reported next to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch

from contrastlab.data.cwru import CwruFileName, parse_cwru_filename
from contrastlab.data.windows import sliding_windows
from contrastlab.models.diagnosis_model import DiagnosisModel, load_diagnosis_model


def _cwru_name(path: Path) -> CwruFileName | None:
    try:
        return parse_cwru_filename(path)
    except ValueError:
        return None


def read_mat_signal(
    path: str | os.PathLike[str], channels: Sequence[str], variable: str | None = None
) -> np.ndarray:
    """Read ``[C, T]`` float64 from a MATLAB file.

    Variable choice, per channel ``ch``: ``variable`` when given (one channel only); otherwise,
    for a CWRU-named file ``..._NNN.mat``, ``XNNN_<ch>_time``; otherwise the single variable
    whose name ends in ``_<ch>_time``. Raises ``ValueError`` naming the variables the file holds
    when the choice fails or a variable is not a numeric vector.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    try:
        content = scipy.io.loadmat(path)
    except (ValueError, OSError, NotImplementedError) as error:
        raise ValueError(f"cannot read {path} as a MATLAB file: {error}") from error
    variables = sorted(k for k in content if not k.startswith("__"))
    if variable is not None and len(channels) != 1:
        raise ValueError(f"--variable names one array, but the model reads channels {channels}")
    cwru_name = _cwru_name(path)
    rows = []
    for channel in channels:
        if variable is not None:
            key = variable
        elif cwru_name is not None:
            key = f"X{cwru_name.number:03d}_{channel}_time"
        else:
            matches = [v for v in variables if re.search(rf"_{channel}_time$", v)]
            if len(matches) != 1:
                raise ValueError(
                    f"{path.name}: cannot tell which variable holds channel {channel} "
                    f"(found {matches or 'none'} among {variables}); pass --variable NAME"
                )
            key = matches[0]
        if key not in content:
            raise ValueError(f"{path.name} has no variable {key!r}; it holds {variables}")
        array = np.asarray(content[key])
        if (
            not np.issubdtype(array.dtype, np.number)
            or array.size == 0
            or (array.ndim > 1 and sorted(array.shape)[-2] != 1)
        ):
            raise ValueError(
                f"{path.name}: variable {key!r} must be a numeric vector, got shape "
                f"{array.shape} and dtype {array.dtype}"
            )
        rows.append(array.astype(np.float64).reshape(-1))
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"{path.name}: channels {list(channels)} differ in length")
    signal = np.stack(rows)
    if not np.isfinite(signal).all():
        raise ValueError(f"{path.name}: the signal contains NaN or inf values")
    return signal


@torch.no_grad()
def diagnose_signal(
    model: DiagnosisModel, signal: np.ndarray, stride: int | None = None, batch_size: int = 256
) -> dict[str, Any]:
    """Classify the windows of ``signal [C, T]``; return the per-window and per-recording result.

    Windows start every ``stride`` samples (default: one window length, so every sample is judged
    once).

    Returns ``{"n_windows", "window_starts", "window_classes", "window_confidences",
    "verdict", "verdict_confidence", "mean_probabilities" {class: p}, "majority",
    "majority_fraction", "votes" {class: count}}``. Raises ``ValueError`` for a signal shorter
    than one window.
    """
    stride = model.window_length if stride is None else stride
    if signal.shape[-1] < model.window_length:
        raise ValueError(
            f"the signal has {signal.shape[-1]} samples, shorter than one window of "
            f"{model.window_length} samples ({model.window_length / model.sample_rate_hz:.3f} s "
            f"at {model.sample_rate_hz:g} Hz)"
        )
    windows = sliding_windows(signal, model.window_length, stride)  # [N, C, L]
    if model.normalization is not None:
        mean = np.asarray(model.normalization["mean"])[None, :, None]
        std = np.asarray(model.normalization["std"])[None, :, None]
        windows = (windows - mean) / std
    inputs = torch.from_numpy(windows.astype(np.float32))
    probabilities = torch.cat(
        [
            torch.softmax(model.classifier(inputs[start : start + batch_size]).float(), dim=1)
            for start in range(0, inputs.shape[0], batch_size)
        ]
    )
    confidence, predicted = probabilities.max(dim=1)
    mean_probability = probabilities.mean(dim=0)
    votes = torch.bincount(predicted, minlength=len(model.class_names))
    names = model.class_names
    return {
        "n_windows": int(inputs.shape[0]),
        "window_starts": [int(i * stride) for i in range(inputs.shape[0])],
        "window_classes": [names[i] for i in predicted.tolist()],
        "window_confidences": [round(float(p), 6) for p in confidence],
        "verdict": names[int(mean_probability.argmax())],
        "verdict_confidence": float(mean_probability.max()),
        "mean_probabilities": {n: float(p) for n, p in zip(names, mean_probability, strict=True)},
        "majority": names[int(votes.argmax())],
        "majority_fraction": float(votes.max()) / inputs.shape[0],
        "votes": {n: int(v) for n, v in zip(names, votes, strict=True) if v > 0},
    }


def diagnose_files(
    paths: Sequence[str | os.PathLike[str]],
    model_path: str | os.PathLike[str],
    sample_rate_hz: float = 12_000.0,
    variable: str | None = None,
    stride: int | None = None,
) -> list[dict[str, Any]]:
    """Diagnose every file of ``paths`` with the model at ``model_path``.

    ``sample_rate_hz`` is the recordings' rate (MAT files do not store it; CWRU's drive-end set is
    12 kHz); it must equal the model's, since the window length and the spectral features are
    tied to it. Returns one dict per file: ``{"file", ...diagnose_signal fields}`` plus
    ``"file_class"`` when the file name spells a CWRU class.
    """
    if not paths:
        raise ValueError("give at least one .mat file to diagnose")
    model = load_diagnosis_model(model_path)
    if not sample_rate_hz > 0:
        raise ValueError(f"--sample_rate_hz must be > 0, got {sample_rate_hz}")
    if abs(sample_rate_hz - model.sample_rate_hz) > 1e-6 * model.sample_rate_hz:
        raise ValueError(
            f"the recordings' sample rate ({sample_rate_hz:g} Hz) differs from the model's "
            f"({model.sample_rate_hz:g} Hz): resample them to {model.sample_rate_hz:g} Hz first"
        )
    if stride is not None and (isinstance(stride, bool) or stride < 1):
        raise ValueError(f"--stride must be a positive integer, got {stride!r}")
    results = []
    for path in paths:
        path = Path(path)
        signal = read_mat_signal(path, model.channels, variable)
        try:
            result = {"file": str(path), **diagnose_signal(model, signal, stride)}
        except ValueError as error:
            raise ValueError(f"{path.name}: {error}") from error
        cwru_name = _cwru_name(path)
        if cwru_name is not None:
            result["file_class"] = cwru_name.class_name
        results.append(result)
    return results
