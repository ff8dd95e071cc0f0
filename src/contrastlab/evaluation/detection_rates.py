"""What a maintenance engineer asks of a fault classifier besides its accuracy.

With one class standing for a healthy machine (``normal``) and the others for faults, over windows
with true classes ``y_i`` and predictions ``yhat_i``:

- **false-alarm rate** ``FA = #{y_i = normal, yhat_i != normal} / #{y_i = normal}``: healthy
  windows called faulty (a needless stop);
- **missed-detection rate** ``MD = #{y_i != normal, yhat_i = normal} / #{y_i != normal}``: faulty
  windows called healthy (a fault left running). A faulty window given the wrong fault class is
  not a missed detection (the machine is still stopped), only an accuracy error.

Rates are fractions in [0, 1]; a rate whose denominator is empty (no normal window, no faulty
window, or no normal class at all) is ``None``, never 0: nothing was measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from contrastlab.evaluation.metrics import check_class_indices

NORMAL_CLASS = "normal"


def normal_class_index(class_names: Sequence[str]) -> int | None:
    """Index of the class named ``normal`` (any case) in ``class_names``, or ``None``."""
    matches = [i for i, name in enumerate(class_names) if name.lower() == NORMAL_CLASS]
    return matches[0] if matches else None


def _rate(hits: torch.Tensor, among: torch.Tensor) -> float | None:
    count = int(among.sum())
    return None if count == 0 else int((hits & among).sum()) / count


def detection_rates(
    predictions: torch.Tensor, labels: torch.Tensor, normal_class: int | None, num_classes: int
) -> dict[str, Any]:
    """``{"false_alarm_rate", "missed_detection_rate", "normal_windows", "faulty_windows"}`` of
    ``predictions`` against ``labels`` (both ``[N]`` class indices in ``[0, num_classes)``; module
    docstring). ``normal_class=None`` (no healthy class) gives ``None`` rates and 0 normal
    windows."""
    labels = check_class_indices("labels", labels, labels.numel(), num_classes)
    predictions = check_class_indices("predictions", predictions, labels.numel(), num_classes)
    predictions = predictions.to(labels.device)
    if normal_class is None:
        return {
            "false_alarm_rate": None,
            "missed_detection_rate": None,
            "normal_windows": 0,
            "faulty_windows": int(labels.numel()),
        }
    truly_normal, called_normal = labels == normal_class, predictions == normal_class
    return {
        "false_alarm_rate": _rate(~called_normal, truly_normal),
        "missed_detection_rate": _rate(called_normal, ~truly_normal),
        "normal_windows": int(truly_normal.sum()),
        "faulty_windows": int((~truly_normal).sum()),
    }
