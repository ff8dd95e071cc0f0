"""Step 4 of ``contrastlab bearing``: what ``model.pt`` knows about its own limits, and what a
maintenance engineer reads about it.

- :func:`calibrate_ood`: the out-of-distribution detector of :mod:`contrastlab.evaluation.ood`,
  fitted on the encoder embeddings of the training windows (class means, shared covariance) and
  calibrated on the validation windows, which the classifier never trained on: the score
  threshold is their ``--ood_score_quantile`` quantile (0.99: about 1 % of in-distribution windows
  flagged), the confidence threshold the ``--ood_confidence_quantile`` quantile (0.01) of their
  maximum softmax probabilities. Both go into ``model.pt``; ``contrastlab diagnose`` calls a file
  ``uncertain`` when most of its windows are flagged.

  "In distribution" means the training windows *and the nuisances the model was trained to
  ignore*: both the fit and the calibration take each window together with one view of it under
  the physical augmentations of training (speed change up to ``--speed_change``, spectral tilt of
  ``--tilt_db``; :func:`contrastlab.data.signal_views.physical_views`; none with
  ``--no-augment``). Fitted on the plain windows alone, the detector flags most windows of
  another motor load (a 1.4 % speed change), which the classifier still names correctly
  (``docs/bearing.md``); with the views it flags far fewer of them, and white noise or a
  recording at 4x its rate as before.
- :func:`judge_classifier`: per window set (validation, test, cross-load) the accuracy, the
  false-alarm and missed-detection rates (:mod:`contrastlab.evaluation.detection_rates`) and the
  fractions of windows the detector flags (out of distribution, low confidence, either).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from contrastlab.config.signal import BearingConfig
from contrastlab.data.signal_views import physical_views
from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.detection_rates import detection_rates, normal_class_index
from contrastlab.evaluation.metrics import accuracy
from contrastlab.evaluation.ood import OodDetector, decide_windows, fit_ood_detector
from contrastlab.evaluation.window_outputs import classify_windows
from contrastlab.models.signal_networks import SignalClassifier


def calibrate_ood(
    classifier: SignalClassifier, splits: DataSplits, config: BearingConfig
) -> OodDetector:
    """Fit on the training windows, calibrate on the validation windows, each with one view
    under the physical augmentations (module docstring)."""
    if len(splits.val) < 2:
        raise ValueError(
            f"the validation split holds {len(splits.val)} window(s): too few to calibrate the "
            "out-of-distribution thresholds; use longer recordings or a smaller --stride"
        )
    views = physical_views(config.speed_change, config.tilt_db) if config.augment else []

    def with_views(inputs: torch.Tensor) -> torch.Tensor:
        viewed = inputs
        for view in views:
            viewed = view(viewed)
        return torch.cat([inputs, viewed]) if views else inputs

    copies = 2 if views else 1
    with torch.random.fork_rng(devices=[]):  # the views' draws, seeded; the caller's RNG intact
        torch.manual_seed(config.seed)
        train_inputs, held_out_inputs = (
            with_views(splits.train.inputs),
            with_views(splits.val.inputs),
        )
    train = classify_windows(classifier, train_inputs, config.eval_batch_size)
    held_out = classify_windows(classifier, held_out_inputs, config.eval_batch_size)
    return fit_ood_detector(
        train.embeddings,
        splits.train.labels.repeat(copies),
        held_out.embeddings,
        held_out.confidences,
        score_quantile=config.ood_score_quantile,
        confidence_quantile=config.ood_confidence_quantile,
    )


def ood_thresholds(detector: OodDetector) -> dict[str, Any]:
    """The calibration ``summary.json`` reports (the numbers ``model.pt`` stores)."""
    return {
        "held_out": "val",
        "score_quantile": detector.score_quantile,
        "score_threshold": detector.score_threshold,
        "confidence_quantile": detector.confidence_quantile,
        "confidence_threshold": detector.confidence_threshold,
    }


def judge_classifier(
    classifier: SignalClassifier,
    detector: OodDetector,
    sets: Mapping[str, LabeledTensors],
    class_names: Sequence[str],
    batch_size: int,
) -> dict[str, dict[str, Any]]:
    """Per named set: ``accuracy`` (%), the detection rates, and the fractions of its windows
    that are ``out_of_distribution``, ``low_confidence`` and ``doubtful`` (either)."""
    normal = normal_class_index(class_names)
    judged = {}
    for name, split in sets.items():
        outputs = classify_windows(classifier, split.inputs, batch_size)
        windows = decide_windows(detector.scores(outputs.embeddings), outputs.confidences, detector)
        judged[name] = {
            "windows": len(split),
            "accuracy": accuracy(outputs.predictions, split.labels),
            **detection_rates(outputs.predictions, split.labels, normal, len(class_names)),
            "out_of_distribution_fraction": float((~windows.in_distribution).double().mean()),
            "low_confidence_fraction": float((~windows.confident).double().mean()),
            "doubtful_fraction": float(windows.doubtful.double().mean()),
        }
    return judged
