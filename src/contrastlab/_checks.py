"""Input validation shared by every public function.

Errors are part of the API: each check raises ``ValueError`` with a message that names the argument,
what was expected and what was received: a bad call never becomes a NaN or a silent wrong answer.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence

import torch

from contrastlab._values import (  # noqa: F401  (re-exported: one import for every check)
    check_choice,
    check_int,
    check_non_negative,
    check_positive,
    check_temperature,
)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

_values_checked = contextvars.ContextVar("contrastlab_values_checked", default=True)


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """``with value_checks(False):`` the finiteness checks of :func:`check_float_tensor` are off
    inside the block (``value_checks(True)`` changes nothing).

    For a loss that calls pluggable code which validates its own inputs (a
    :class:`~contrastlab.distances.Distance` checks them on every call): the loss has already
    decided whether to read values on the host (its ``validate`` argument).
    """
    token = _values_checked.set(_values_checked.get() and enabled)
    try:
        yield
    finally:
        _values_checked.reset(token)


def check_float_tensor(
    name: str,
    tensor: object,
    ndim: int | Sequence[int] | None = None,
    values: bool = True,
) -> None:
    """Require a non-empty floating-point tensor (optionally of a given rank) with finite entries.

    The type, dtype, rank and size checks read only host metadata. The finiteness check reads a
    value from the tensor's device, which on an accelerator makes the host wait for every queued
    kernel: ``values=False`` (or an enclosing ``value_checks(False)``) leaves it out; hot paths
    run it only on request (see :func:`check_finite`).
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if tensor.dim() not in allowed:
            shapes = " or ".join(f"{n}-D" for n in allowed)
            raise ValueError(f"{name} must be {shapes}, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)})")
    # Traced code (torch.compile, torch.export / ONNX) cannot read a value; data is checked
    # where it is loaded.
    if values and _values_checked.get() and not torch.compiler.is_compiling():
        check_finite(name, tensor)


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ValueError if ``tensor`` holds a NaN or an infinity (reads one value pair from the
    device: a host synchronisation on accelerators)."""
    if tensor.numel() == 0:
        return
    # One min-max pass (NaN propagates into both, +-inf into one): about 10x faster on CPU than
    # isfinite(tensor).all(), which materialises a bool tensor and reduces it.
    low, high = torch.aminmax(tensor.detach())
    if not (math.isfinite(float(low)) and math.isfinite(float(high))):
        raise ValueError(f"{name} contains NaN or inf values")


def check_labels(name: str, labels: object, expected_count: int) -> torch.Tensor:
    """Require an integer label vector of length ``expected_count``; return it flattened."""
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name} must have an integer dtype, got {labels.dtype}")
    if labels.dim() > 1 and not (labels.dim() == 2 and labels.shape[1] == 1):
        raise ValueError(
            f"{name} must be 1-D of shape [{expected_count}], got {tuple(labels.shape)}"
        )
    labels = labels.reshape(-1)
    if labels.numel() != expected_count:
        raise ValueError(
            f"{name} has {labels.numel()} entries but the batch has {expected_count} samples"
        )
    return labels


def reduce_loss(
    per_item: torch.Tensor, reduction: str, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Reduce per-item losses with 'mean', 'sum' or 'none'.

    ``valid`` ([N] bool) marks the items that count; the mean is taken over valid items only and
    is 0 (with zero gradient) when none is valid, never NaN. With 'none', invalid items give 0.
    """
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    if valid is not None:
        per_item = torch.where(valid, per_item, 0.0)
    if reduction == "none":
        return per_item
    if reduction == "sum":
        return per_item.sum()
    if valid is None:
        return per_item.mean()
    # A tensor count keeps this free of host synchronisation on accelerators.
    count = valid.sum().clamp(min=1).to(per_item.dtype)
    return per_item.sum() / count
