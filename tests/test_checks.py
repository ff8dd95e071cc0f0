"""The shared argument checks of ``contrastlab._checks``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlab._checks import check_finite, check_float_tensor, check_int, value_checks
from contrastlab._host_sync import HostSyncCounter


@pytest.mark.parametrize(("value", "minimum", "maximum"), [(1, 1, None), (0, 0, None), (5, 2, 5)])
def test_check_int_accepts_and_returns_integers_in_range(
    value: int, minimum: int, maximum: int | None
) -> None:
    assert check_int("n", value, minimum=minimum, maximum=maximum) == value


@pytest.mark.parametrize(
    ("value", "minimum", "maximum", "message"),
    [
        (0, 1, None, "n must be an integer >= 1, got 0"),
        (True, 0, None, "n must be an integer >= 0, got True"),
        (2.0, 1, None, "n must be an integer >= 1, got 2.0"),
        ("3", 1, None, "n must be an integer >= 1, got '3'"),
        (6, 1, 5, r"n must be an integer in \[1, 5\], got 6"),
        (0, 1, 5, r"n must be an integer in \[1, 5\], got 0"),
        (np.int64(0), 1, None, "n must be an integer >= 1, got "),
        (np.bool_(True), 0, None, "n must be an integer >= 0, got "),
        (np.float64(2.0), 1, None, "n must be an integer >= 1, got "),
    ],
)
def test_check_int_names_the_argument_and_the_range(
    value: object, minimum: int, maximum: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_int("n", value, minimum=minimum, maximum=maximum)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.uint8(3)])
def test_check_int_accepts_numpy_integers_and_returns_a_python_int(value: np.integer) -> None:
    result = check_int("n", value, minimum=3, maximum=3)
    assert result == 3 and type(result) is int


def test_check_float_tensor_reads_values_only_when_asked() -> None:
    bad = torch.tensor([1.0, float("nan")])
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        check_float_tensor("x", bad)
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        check_finite("x", torch.tensor([float("-inf")]))
    with HostSyncCounter() as syncs:
        check_float_tensor("x", bad, ndim=1, values=False)
        with value_checks(False):
            check_float_tensor("x", bad)
            with value_checks(True):  # cannot turn the checks back on inside
                check_float_tensor("x", bad)
    assert syncs.count == 0
    with pytest.raises(ValueError, match="x contains NaN or inf"):  # on again after the block
        check_float_tensor("x", bad)
    with pytest.raises(ValueError, match="x must be 2-D"):  # metadata checks stay on
        check_float_tensor("x", bad, ndim=2, values=False)
    with pytest.raises(ValueError, match="x is empty"), value_checks(False):
        check_float_tensor("x", torch.zeros(0))
