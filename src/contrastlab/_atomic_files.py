"""Files written atomically: to a temporary file in the same folder, then renamed over the target,
so a crash or a full disk leaves the old version or the new one, never half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_stream(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary stream (it may seek) to a temporary file in ``path``'s folder, for a file written
    piece by piece. When the block ends the file is flushed, synced and renamed over ``path``; on
    any error the target is untouched and the temporary file removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` atomically: ``write(stream)`` fills a temporary file in the same folder,
    which is flushed, synced and renamed over ``path``. On any error the target is untouched and
    the temporary file removed (:func:`atomic_stream`)."""
    with atomic_stream(path) as stream:
        write(stream)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """:func:`atomic_write` of ``data`` as indented JSON with sorted keys."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
