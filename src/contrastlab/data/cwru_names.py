"""What a CWRU file name says: the class, the motor load and the official file number.

contrastlab names the 12 kHz drive-end files ``12k_Drive_End_<CLASS>_<LOAD>_<NUMBER>.mat``
(``CLASS`` = ``IR007``, ``B014``, ``OR021@6``, ...) or ``normal_<LOAD>_<NUMBER>.mat``. A file
numbered ``NNN`` holds its arrays under ``XNNN_...`` names (see :mod:`contrastlab.data.cwru`).

This module holds only the naming rules, so that both the CWRU loader and the generic recording
reader (:mod:`contrastlab.data.recordings`) can use them without importing each other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

FAULT_TYPES = {"IR": "inner_race", "B": "ball", "OR": "outer_race"}

CWRU_FILE_PATTERN = re.compile(
    r"^(?:12k_Drive_End_(?P<fault>IR|B|OR)(?P<size>\d{3})(?P<position>@\d+)?|(?P<normal>normal))"
    r"_(?P<load>\d+)_(?P<number>\d+)\.mat$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CwruFileName:
    """What a CWRU file name says: ``class_name`` (e.g. ``IR007``, ``OR014@6``, ``normal``),
    motor ``load_hp`` and the official file ``number``."""

    class_name: str
    load_hp: int
    number: int

    @property
    def fault_type(self) -> str:
        """``normal``, ``inner_race``, ``ball`` or ``outer_race``."""
        if self.class_name == "normal":
            return "normal"
        return FAULT_TYPES[re.match(r"[A-Z]+", self.class_name).group(0)]  # type: ignore[union-attr]


def parse_cwru_filename(path: str | os.PathLike[str]) -> CwruFileName:
    """Parse ``12k_Drive_End_IR007_0_105.mat`` -> ``CwruFileName('IR007', 0, 105)``.

    Raises ``ValueError`` for a name that follows neither contrastlab naming pattern.
    """
    name = Path(path).name
    match = CWRU_FILE_PATTERN.match(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a CWRU 12 kHz drive-end file name; expected "
            "'12k_Drive_End_<IR|B|OR><size>[@pos]_<load>_<number>.mat' or "
            "'normal_<load>_<number>.mat'"
        )
    if match["normal"]:
        class_name = "normal"
    else:
        class_name = f"{match['fault'].upper()}{match['size']}{match['position'] or ''}"
    return CwruFileName(class_name, int(match["load"]), int(match["number"]))


def cwru_filename_or_none(path: str | os.PathLike[str]) -> CwruFileName | None:
    """:func:`parse_cwru_filename`, or ``None`` for a name that is not CWRU-style."""
    if CWRU_FILE_PATTERN.match(Path(path).name) is None:
        return None
    return parse_cwru_filename(path)
