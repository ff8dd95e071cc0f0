"""Reading a text file a user names, with errors that name it (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path


def read_text_file(path: str | os.PathLike[str], what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names the kind of file in the errors.

    Raises FileNotFoundError for a missing file and ValueError for a folder, a file that is not
    UTF-8 text, or one holding NUL bytes (a binary file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not path.is_file():
        raise ValueError(f"{what} {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not UTF-8 text (a binary file?)") from None
    if "\x00" in text:
        raise ValueError(f"{what} {path} is not text (it holds NUL bytes)")
    return text
