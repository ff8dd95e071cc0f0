"""Bearing diagnosis of recordings with a trained model: ``contrastlab diagnose FILE ...``.

The model file is ``model.pt`` written by ``contrastlab bearing``
(:mod:`contrastlab.models.diagnosis_model`). Every file gets a result, in three steps:

1. **Input checks** (:mod:`contrastlab.evaluation.diagnosis_input`): unreadable, empty, complex,
   matrix-valued, non-finite, flat, clipped or too-short recordings are ``"rejected"`` with the
   reason; the sample rate is converted to the model's; speed differences are warnings.
2. **Windows.** The recording ``[C, T]`` is cut into windows of ``window_length`` samples (one
   every ``window_length`` samples unless a stride is given), standardised with the stored
   training statistics ``(x - mean_c) / std_c`` and classified: window ``i`` gets
   ``p_i = softmax(logits_i)``, its class ``argmax p_i``, its confidence ``max p_i`` and its
   out-of-distribution score ``s_i`` (Mahalanobis distance of its embedding to the nearest
   training class mean, :mod:`contrastlab.evaluation.ood`).
3. **Verdict.** The best guess is the class of the **mean probability** ``p = mean_i p_i``, with
   confidence ``max p``. A window is *doubtful* when ``s_i`` exceeds the model's calibrated
   threshold or its confidence falls below the calibrated confidence threshold; the file is
   ``"uncertain"`` when strictly more than half of its windows are doubtful, else its verdict is
   the best guess. A model.pt without calibration (written before it existed) gives the best guess
   with a warning.

Result of one file (:func:`diagnose_files`; ``contrastlab diagnose --json`` prints one per line).
Every key is present in every result, ``null`` where it does not apply:

- ``file`` (str), ``verdict`` (a class name, ``"uncertain"`` or ``"rejected"``), ``best_guess``
  (class name, ``null`` when rejected), ``confidence`` (mean probability of the best guess),
  ``ood_score`` (median of the windows' scores), ``doubtful_fraction``,
  ``out_of_distribution_fraction``, ``low_confidence_fraction`` (fractions of the windows);
- ``n_windows``, ``window_starts`` (first sample of each window at the model's rate),
  ``window_classes``, ``window_confidences``, ``window_ood_scores``, ``window_doubtful``
  (per-window lists), ``mean_probabilities`` ({class: p}), ``majority`` (most frequent window
  class), ``majority_fraction``, ``votes`` ({class: windows});
- ``thresholds`` ({``ood_score``, ``confidence``, ``max_doubtful_fraction``, ``ood_score_quantile``,
  ``confidence_quantile``}, ``null`` without calibration), ``sample_rate_hz`` (rate the file was
  read at; ``null``: unknown, read as the model's), ``resampled`` (bool), ``rpm`` (shaft speed
  used; ``null``: unknown), ``warnings`` (list of str);
- ``rejection``: ``null``, or ``{"reason", "message", "problems": [{"reason", "message",
  "channel"}]}`` with ``reason`` the first problem's (one of
  :data:`~contrastlab.evaluation.diagnosis_input.REJECTION_REASONS`);
- ``file_class``: the class a CWRU file name spells, ``null`` for other names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contrastlab.config.signal import DiagnoseConfig
from contrastlab.data.cwru_names import cwru_filename_or_none
from contrastlab.data.windows import sliding_windows
from contrastlab.evaluation.diagnosis_input import CheckedInput, check_input
from contrastlab.evaluation.ood import OodDetector, decide_file, decide_windows
from contrastlab.evaluation.window_outputs import classify_windows
from contrastlab.models.diagnosis_model import DiagnosisModel, load_diagnosis_model

UNCERTAIN = "uncertain"
REJECTED = "rejected"
MAX_DOUBTFUL_FRACTION = 0.5
NO_CALIBRATION_WARNING = (
    "model.pt holds no out-of-distribution calibration (written before it existed): the "
    "verdict is not checked against the training windows; retrain to get it"
)


def ood_detector(model: DiagnosisModel, model_path: str | os.PathLike[str]) -> OodDetector | None:
    """The model's calibrated detector, ``None`` for a model.pt without one."""
    if model.ood is None:
        return None
    try:
        return OodDetector.from_dict(model.ood)
    except ValueError as error:
        raise ValueError(f"{model_path}: {error}") from error


def _thresholds(detector: OodDetector | None) -> dict[str, float] | None:
    if detector is None:
        return None
    return {
        "ood_score": detector.score_threshold,
        "confidence": detector.confidence_threshold,
        "max_doubtful_fraction": MAX_DOUBTFUL_FRACTION,
        "ood_score_quantile": detector.score_quantile,
        "confidence_quantile": detector.confidence_quantile,
    }


def _no_windows(detector: OodDetector | None) -> dict[str, Any]:
    """The result keys from ``verdict`` to ``thresholds`` before anything is judged: every value
    the "does not apply" one (module docstring)."""
    return {
        "verdict": None,
        "best_guess": None,
        "confidence": None,
        "ood_score": None,
        "doubtful_fraction": None,
        "out_of_distribution_fraction": None,
        "low_confidence_fraction": None,
        "n_windows": 0,
        "window_starts": [],
        "window_classes": [],
        "window_confidences": [],
        "window_ood_scores": None,
        "window_doubtful": None,
        "mean_probabilities": None,
        "majority": None,
        "majority_fraction": None,
        "votes": {},
        "thresholds": _thresholds(detector),
    }


def _model_inputs(model: DiagnosisModel, signal: np.ndarray, stride: int) -> torch.Tensor:
    windows = sliding_windows(signal, model.window_length, stride)  # [N, C, L]
    if model.normalization is not None:
        mean = np.asarray(model.normalization["mean"])[None, :, None]
        std = np.asarray(model.normalization["std"])[None, :, None]
        windows = (windows - mean) / std
    return torch.from_numpy(windows.astype(np.float32))


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(float(v), 6) for v in values]


@torch.no_grad()
def diagnose_signal(
    model: DiagnosisModel,
    signal: np.ndarray,
    detector: OodDetector | None = None,
    stride: int | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Classify the windows of ``signal [C, T]`` (at the model's rate, at least one window long)
    and give the verdict of the module docstring: every result key from ``verdict`` to
    ``thresholds``. Raises ``ValueError`` for a signal shorter than one window."""
    stride = model.window_length if stride is None else stride
    if signal.shape[-1] < model.window_length:
        raise ValueError(
            f"the signal has {signal.shape[-1]} samples, shorter than one window of "
            f"{model.window_length} samples"
        )
    inputs = _model_inputs(model, signal, stride)
    outputs = classify_windows(model.classifier, inputs, batch_size)
    confidences, predictions = outputs.confidences, outputs.predictions
    mean_probability = outputs.probabilities.mean(dim=0)
    names = model.class_names
    votes = torch.bincount(predictions, minlength=len(names))
    best_guess = names[int(mean_probability.argmax())]
    result = _no_windows(detector) | {
        "verdict": best_guess,
        "best_guess": best_guess,
        "confidence": float(mean_probability.max()),
        "n_windows": int(inputs.shape[0]),
        "window_starts": [int(i * stride) for i in range(inputs.shape[0])],
        "window_classes": [names[i] for i in predictions.tolist()],
        "window_confidences": _rounded(confidences),
        "mean_probabilities": {n: float(p) for n, p in zip(names, mean_probability, strict=True)},
        "majority": names[int(votes.argmax())],
        "majority_fraction": float(votes.max()) / inputs.shape[0],
        "votes": {n: int(v) for n, v in zip(names, votes, strict=True) if v > 0},
    }
    if detector is None:
        return result
    scores = detector.scores(outputs.embeddings)
    decision = decide_file(scores, confidences, detector, MAX_DOUBTFUL_FRACTION)
    result.update(
        verdict=UNCERTAIN if decision.uncertain else best_guess,
        ood_score=float(torch.quantile(scores, 0.5)),
        doubtful_fraction=decision.doubtful_fraction,
        out_of_distribution_fraction=decision.out_of_distribution_fraction,
        low_confidence_fraction=decision.low_confidence_fraction,
        window_ood_scores=_rounded(scores),
        window_doubtful=decide_windows(scores, confidences, detector).doubtful.tolist(),
    )
    return result


def _rejected(checked: CheckedInput, detector: OodDetector | None) -> dict[str, Any]:
    first = checked.problems[0]
    rejection = {
        "reason": first.reason,
        "message": "; ".join(problem.message for problem in checked.problems),
        "problems": [asdict(problem) for problem in checked.problems],
    }
    return _no_windows(detector) | {"verdict": REJECTED, "rejection": rejection}


def diagnose_file(
    path: str | os.PathLike[str],
    model: DiagnosisModel,
    detector: OodDetector | None,
    sample_rate_hz: float | None = None,
    rpm: float | None = None,
    variable: str | None = None,
    stride: int | None = None,
) -> dict[str, Any]:
    """The result of one file (module docstring); never raises for the file's own problems."""
    path = Path(path)
    checked = check_input(path, model, sample_rate_hz, rpm, variable)
    warnings = list(checked.warnings)
    if checked.signal is None:
        body = _rejected(checked, detector)
    else:
        body = {**diagnose_signal(model, checked.signal, detector, stride), "rejection": None}
        if detector is None:
            warnings.append(NO_CALIBRATION_WARNING)
    cwru_name = cwru_filename_or_none(path)
    return {
        "file": str(path),
        **body,
        "sample_rate_hz": checked.sample_rate_hz,
        "resampled": checked.resampled,
        "rpm": checked.rpm,
        "warnings": warnings,
        "file_class": None if cwru_name is None else cwru_name.class_name,
    }


def diagnose_files(
    paths: Sequence[str | os.PathLike[str]], config: DiagnoseConfig
) -> list[dict[str, Any]]:
    """Diagnose every file of ``paths`` with the model ``config.ckpt``: one result per file, in
    order (module docstring). ``config.sample_rate_hz`` is the rate of files that do not state
    theirs (all but ``.wav``), ``config.rpm`` their shaft speed (else a CWRU file's recorded one).

    Raises ``FileNotFoundError`` / ``ValueError`` only for the call itself (no path, an
    unreadable model file); a file's own problems make its result ``"rejected"``.
    """
    if not paths:
        raise ValueError("give at least one recording to diagnose")
    model_path = Path(str(config.ckpt))
    model = load_diagnosis_model(model_path)
    detector = ood_detector(model, model_path)
    return [
        diagnose_file(
            path, model, detector, config.sample_rate_hz, config.rpm, config.variable, config.stride
        )
        for path in paths
    ]
