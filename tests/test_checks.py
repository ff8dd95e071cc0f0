"""The shared argument checks of ``contrastlab._checks``."""

from __future__ import annotations

import numpy as np
import pytest

from contrastlab._checks import check_int


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
