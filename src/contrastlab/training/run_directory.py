"""The run directory is a contract: a run never loses or mixes work, its own or another run's.

- **Claimed after validation.** A command checks its options, data and resume compatibility
  first, then claims ``--out`` (:meth:`RunDirectory.claim`); nothing is written before.
- **One run per folder.** A non-empty folder holding another run is refused unless the new run
  resumes it (``--resume``) or replaces it (``--overwrite``, which clears the old run first; a
  folder that is not a contrastlab run is never cleared). A lock file
  (``.contrastlab.lock``: pid, host, start) refuses a second concurrent run in the same folder;
  the lock of a process that no longer runs is stale and taken over.
- **Atomic files.** Every file is written to a temporary file in the same folder and renamed over
  the target (:func:`atomic_write`), so a crash leaves the old version or the new one, never half
  a file; temporary files left by a killed run (``.NAME.*.tmp``) are removed when the folder is
  claimed again.
- **Provenance.** ``summary.json`` carries ``provenance`` (contrastlab version, git commit,
  torch version, device, seed, threads, command line); ``config.yaml`` carries it as comments, so
  the file still loads with ``--config``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contrastlab._atomic_files import atomic_write, atomic_write_json, atomic_write_text

__all__ = [
    "RunDirectory",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_text",
    "claimed_run",
    "usable_run_path",
]

LOCK_NAME = ".contrastlab.lock"
MARKER_NAME = ".contrastlab-run"
RUN_FILES = ("config.yaml", "summary.json", "metrics.jsonl", "last.pth", "model.pt")


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files an interrupted :func:`atomic_write` left in ``folder`` (and its
    sub-folders); return them."""
    stale = [p for p in folder.rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holds_a_run(folder: Path) -> bool:
    return (folder / MARKER_NAME).exists() or any((folder / name).exists() for name in RUN_FILES)


def _clear(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class RunDirectory:
    """A claimed run folder: the only way a command writes its outputs (module docstring).

    Use :meth:`claim` as a context manager; the lock is released when it exits.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def check_target(
        cls,
        path: str | os.PathLike[str],
        resume: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        inputs: Sequence[str | os.PathLike[str] | None] = (),
        resumable: bool = True,
    ) -> Path:
        """Check, without writing, that a run may use ``path``; return it.

        A new or empty folder is fine. A resumed run (``resume``: its checkpoint) continues in
        its checkpoint's own folder, never in another run's. ``overwrite`` clears a folder that
        holds a contrastlab run, unless it holds one of ``inputs`` (a checkpoint or data the
        command reads). Raises ValueError naming the way out (``resumable``: the command has
        ``--resume``).
        """
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--out {folder} is a file, not a folder")
        entries = [e for e in folder.iterdir() if e.name != LOCK_NAME] if folder.is_dir() else []
        if not entries:
            return folder
        if resume is not None:
            own = Path(resume).resolve().parent
            if folder.resolve() == own:
                return folder
            raise ValueError(
                f"--out {folder} already holds files: a resumed run continues in its "
                f"checkpoint's folder ({own}) or in an empty or new one"
            )
        if not overwrite:
            what = "a run" if _holds_a_run(folder) else "files"
            resume_hint = f", resume it with --resume {folder / 'last.pth'}" if resumable else ""
            raise ValueError(
                f"--out {folder} already holds {what}: choose another --out{resume_hint}, or "
                "replace it with --overwrite"
            )
        if not _holds_a_run(folder):
            raise ValueError(
                f"--out {folder} is not empty and holds no contrastlab run: --overwrite only "
                "clears run directories; choose an empty or new folder"
            )
        inside = [
            Path(item) for item in inputs
            if item and Path(item).resolve().is_relative_to(folder.resolve())
        ]  # fmt: skip
        if inside:
            raise ValueError(
                f"--overwrite would delete {inside[0]}, which this command reads: choose "
                "another --out"
            )
        return folder

    @classmethod
    @contextmanager
    def claim(
        cls,
        path: str | os.PathLike[str],
        resume: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        inputs: Sequence[str | os.PathLike[str] | None] = (),
    ) -> Iterator[RunDirectory]:
        """Lock ``path`` for this run (creating it), clear it with ``overwrite``, remove stale
        temporary files; release the lock at the end. A folder this run created is removed
        again when the run fails before its first checkpoint (nothing to keep, and a retry is
        not refused). Raises ValueError when the folder may not be used (:meth:`check_target`)
        or another live process holds its lock."""
        folder = cls.check_target(path, resume, overwrite, inputs)
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / LOCK_NAME
        _acquire(lock)
        try:
            entries = [e for e in folder.iterdir() if e.name != LOCK_NAME]
            if entries and resume is None and overwrite:
                _clear(folder)
            remove_stale_temporaries(folder)
            marker = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": os.getpid()}
            atomic_write_json(folder / MARKER_NAME, marker)
            yield cls(folder)
        except BaseException:
            if created and not any(folder.rglob("*.pth")):
                shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            lock.unlink(missing_ok=True)

    def write_json(self, name: str, data: Any) -> Path:
        return atomic_write_json(self.path / name, data)

    def write_summary(self, summary: dict[str, Any], provenance: dict[str, Any]) -> Path:
        """``summary.json``: ``summary`` with ``provenance`` added, written atomically."""
        return self.write_json("summary.json", {**summary, "provenance": provenance})


def _acquire(lock: Path) -> None:
    """Create ``lock`` exclusively; take over the lock of a dead process on this host."""
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                holder = {}
            pid, host = holder.get("pid"), holder.get("host")
            if isinstance(pid, int) and (host != socket.gethostname() or _process_alive(pid)):
                where = "" if host == socket.gethostname() else f" on {host}"
                raise ValueError(
                    f"another contrastlab run (pid {pid}{where}) is writing {lock.parent}: wait "
                    f"for it or choose another --out (remove {lock} if that run is gone)"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(descriptor, "w") as stream:
            stream.write(record)
        return
    raise ValueError(f"could not lock {lock.parent}: another run keeps taking it")


def _on_main_then_everywhere(check: Callable[[], None]) -> None:
    """Run ``check`` on the main process; under DDP every process raises its ValueError (a
    collective: a refusal on one rank never leaves the others waiting)."""
    from contrastlab.training import distributed

    error: str | None = None
    if distributed.is_main_process():
        try:
            check()
        except ValueError as refused:
            error = str(refused)
    errors = distributed.gather_objects(error)
    if errors[0] is not None:
        raise ValueError(errors[0])


def usable_run_path(
    out: str | None,
    default_name: str,
    resume: str | None = None,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str] | None] = (),
    resumable: bool = True,
) -> Path:
    """``--out`` (default: the ``--resume`` checkpoint's folder, else ``runs/<default_name>``)
    after :meth:`RunDirectory.check_target`, on every process, before anything is written."""
    default = Path(resume).parent if resume else Path("runs") / default_name
    path = Path(out) if out else default
    _on_main_then_everywhere(
        lambda: RunDirectory.check_target(path, resume, overwrite, inputs, resumable)
    )
    return path


@contextmanager
def claimed_run(
    path: str | os.PathLike[str],
    resume: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str] | None] = (),
) -> Iterator[RunDirectory]:
    """:meth:`RunDirectory.claim` on the main process; under DDP every process learns whether it
    succeeded (a collective), so no rank is left waiting when the folder is refused."""
    from contrastlab.training import distributed

    is_main = distributed.is_main_process()
    claim = RunDirectory.claim(path, resume, overwrite, inputs) if is_main else None
    run = RunDirectory(Path(path))

    def enter() -> None:
        nonlocal run
        if claim is not None:
            run = claim.__enter__()

    _on_main_then_everywhere(enter)
    try:
        yield run
    except BaseException as error:
        if claim is not None and claim.__exit__(type(error), error, error.__traceback__):
            return
        raise
    else:
        if claim is not None:
            claim.__exit__(None, None, None)
