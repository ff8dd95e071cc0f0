"""Running averages for logging (SupContrast's ``util.AverageMeter``).

One meter per quantity, kept in a plain ``dict`` by the caller; :func:`meter_averages` turns such a
dict into the numbers written to the log. No logger class: the training loop decides what to print.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from contrastlab._checks import check_int


class AverageMeter:
    """Weighted running average.

    After ``update(v_1, n_1), ..., update(v_k, n_k)``: ``val = v_k``, ``sum = sum_i v_i * n_i``,
    ``count = sum_i n_i`` and ``avg = sum / count`` (0.0 before the first update). ``val`` is
    typically a batch mean and ``n`` the batch size, so ``avg`` is the mean over samples.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self.val = 0.0
        self.avg = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val: float | torch.Tensor, n: int = 1) -> None:
        """Add ``val`` with weight ``n`` (a one-element tensor is read with ``.item()``)."""
        if isinstance(val, torch.Tensor):
            if val.numel() != 1:
                raise ValueError(f"val must be a scalar, got a tensor of shape {tuple(val.shape)}")
            val = val.item()
        check_int("n", n)
        val = float(val)
        if not math.isfinite(val):
            raise ValueError(f"val must be finite (a diverged loss?), got {val!r}")
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def __repr__(self) -> str:
        return (
            f"AverageMeter({self.name!r}, val={self.val:.4g}, avg={self.avg:.4g}, n={self.count})"
        )


def meter_averages(meters: Mapping[str, AverageMeter]) -> dict[str, float]:
    """``{name: meter.avg}`` for every meter that has seen at least one update."""
    return {name: meter.avg for name, meter in meters.items() if meter.count > 0}
