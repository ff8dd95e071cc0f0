"""Checks of plain values (numbers, counts, choices), importable without torch.

Configuration dataclasses and the command line validate options with these before any heavy
module is imported; :mod:`contrastlab._checks` re-exports them next to the tensor checks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence


def _is_real(value: object) -> bool:
    """A real number (Python or NumPy), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive(name: str, value: float) -> None:
    """Require a strictly positive finite number (temperatures, scales)."""
    if not (_is_real(value) and value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """Require a finite number >= 0 (margins)."""
    if not (_is_real(value) and value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Require an integer in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None):
    counts, sizes, epochs, numbers of classes. Python and NumPy integers pass (sizes read from
    arrays are NumPy integers); bools, floats and strings do not. Returns it as a Python ``int``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        expected = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {expected}, got {value!r}")
    return int(value)


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Require ``value`` to be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


MIN_TEMPERATURE = 1e-6


def check_temperature(name: str, value: float) -> None:
    """A softmax temperature: positive, finite and at least :data:`MIN_TEMPERATURE` (below it the
    scaled similarities ``s / T`` leave float32's range and the loss is no longer a number)."""
    check_positive(name, value)
    if value < MIN_TEMPERATURE:
        raise ValueError(
            f"{name} must be >= {MIN_TEMPERATURE:g} (smaller values overflow float32 once the "
            f"similarities are divided by it), got {value!r}"
        )
