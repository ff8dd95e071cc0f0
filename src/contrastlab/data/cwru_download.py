"""Download the CWRU 12 kHz drive-end bearing files (0-3 hp) under contrastlab's naming.

The Case Western Reserve University Bearing Data Center serves every record as
``https://engineering.case.edu/sites/default/files/<NUMBER>.mat``. :data:`CWRU_12K_DRIVE_END`
maps the official numbers of the normal baseline and of the 0.007 / 0.014 / 0.021 in inner-race,
ball and outer-race (@6:00) faults at 0-3 hp to their class and load; a file is saved as
``<dest_dir>/<LOAD>HP/12k_Drive_End_<CLASS>_<LOAD>_<NUMBER>.mat`` (``normal_<LOAD>_<NUMBER>.mat``),
the layout :func:`contrastlab.data.cwru.load_cwru_splits` reads.

Integrity: where the SHA-256 of a file is known (the files in contrastlab's reference subset)
the download must match it; otherwise the file must be a MATLAB file holding ``XNNN_DE_time``.
A file failing the check is deleted and ``ValueError`` is raised. Files already present and valid
are skipped, so an interrupted download can simply be restarted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import scipy.io
from tqdm.auto import tqdm

CWRU_BASE_URL = "https://engineering.case.edu/sites/default/files"

Fetch = Callable[[str, Path], None]


@dataclass(frozen=True)
class CwruFile:
    """One official CWRU record: ``number``, ``class_name`` (``normal``, ``IR007``, ``OR014@6``,
    ...), motor ``load_hp`` and the expected ``sha256`` (``None`` when not recorded)."""

    number: int
    class_name: str
    load_hp: int
    sha256: str | None = None

    @property
    def filename(self) -> str:
        if self.class_name == "normal":
            return f"normal_{self.load_hp}_{self.number}.mat"
        return f"12k_Drive_End_{self.class_name}_{self.load_hp}_{self.number}.mat"

    @property
    def relative_path(self) -> str:
        """``<LOAD>HP/<filename>``."""
        return f"{self.load_hp}HP/{self.filename}"


# Official numbers per class at 0, 1, 2, 3 hp (12 kHz drive-end fault data and normal baseline).
_NUMBERS: dict[str, tuple[int, int, int, int]] = {
    "normal": (97, 98, 99, 100),
    "IR007": (105, 106, 107, 108),
    "B007": (118, 119, 120, 121),
    "OR007@6": (130, 131, 132, 133),
    "IR014": (169, 170, 171, 172),
    "B014": (185, 186, 187, 188),
    "OR014@6": (197, 198, 199, 200),
    "IR021": (209, 210, 211, 212),
    "B021": (222, 223, 224, 225),
    "OR021@6": (234, 235, 236, 237),
}

# SHA-256 of the files in contrastlab's reference subset (shared/data/cwru/MANIFEST.csv).
_SHA256: dict[int, str] = {
    118: "b00628f8dd8d1d930af77fa465d1e5cdb385fe259489053f91f3680bda7f640e",
    185: "5bea2c60f177215ba3ec4ae287faf745d7e14aed1a12efe9e37b27c27044bafc",
    222: "fcc0ee740fa123b1f4683f555458891719efb2857afd9fdee63e8fde0ed14469",
    105: "f80b0ea04fd06b372a0eaec7c056543ea37e4bb4727a5b173d2a5bacd2aa9cab",
    169: "f5448673725c4ea2735fe7d3fe4b16ad82b217eac6b62c4bf351c4549b0a5229",
    209: "9f723d6d9d2eba714c6dc50f99321dffa73d8b1e4d3605675b2c2251511eff80",
    130: "35a095307d0971477049b343a1b5981dde465a58fb7f233ad89b035068c1717d",
    197: "fa571b47cd942f9514a920b403fb7c053cd442bb2963a360a96d0f61432f03e9",
    234: "ebcbdb96612e8085bbdbf81f0e5e8e8a8d1a693d1ec559c4894f7792771aa9b2",
    97: "16bf48babcf1c7ac224bc1a81cd9eafdb27e42d5cf559761907e067e8eeadf3c",
    119: "bc72d9df7668219e004a0f711232b23ec0aed393eb9bd8f9f5483426f6b51330",
    186: "1b3b6f3ad38e891feaa8026fe957b34f62f9082785089cc74f6878acdfe88ec5",
    223: "7287410fd2217e3b332c5ab4732a68963be046d7d17bd40efa41cabe6a0514e5",
    106: "e5cec7cdd138e6cd1deb9ed8634e5aaa9bc1bd7094ddc075bff606580eb6e883",
    170: "bcb73a5208b67265468232a2e342f53719850901671d0ee28494f3af97621f46",
    210: "596692397e77e129a00f7b7a61c4c3ffd6c7a59979b89039e7f70a7431cce1c7",
    131: "7883f7b83beadc54b2f301767f9145ce07055707182fb0278fdf0a6bb53ce3cb",
    198: "dbd58e4585ca8f8332c708b15936987ec0990ca701359fd2483dae2719df5b49",
    235: "667e4bf1f213f92d10dca71d494ad002d8fd22bfd8004b31a4c71ccf0d764b66",
}

CWRU_12K_DRIVE_END: dict[int, CwruFile] = {
    number: CwruFile(number, class_name, load_hp, _SHA256.get(number))
    for class_name, numbers in _NUMBERS.items()
    for load_hp, number in enumerate(numbers)
}


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _urllib_fetch(url: str, destination: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as handle:
        shutil.copyfileobj(response, handle)


def _problem(entry: CwruFile, path: Path) -> str | None:
    """Why ``path`` is not a valid copy of ``entry`` (``None`` when it is)."""
    if entry.sha256 is not None:
        actual = sha256_file(path)
        if actual != entry.sha256:
            return f"sha256 mismatch: expected {entry.sha256}, got {actual}"
        return None
    key = f"X{entry.number:03d}_DE_time"
    try:
        names = [name for name, *_ in scipy.io.whosmat(path)]
    except (ValueError, OSError, NotImplementedError) as error:
        return f"not a readable MATLAB file ({error})"
    return None if key in names else f"no variable {key!r} (it holds {sorted(names)})"


def select_cwru_files(
    files: Iterable[int | str] | None = None, loads: Sequence[int] | None = None
) -> list[CwruFile]:
    """Table entries for the given official numbers (all when ``None``), optionally by load."""
    if files is None:
        numbers = sorted(CWRU_12K_DRIVE_END)
    else:
        numbers = [int(str(f).removesuffix(".mat")) for f in files]
        unknown = [n for n in numbers if n not in CWRU_12K_DRIVE_END]
        if unknown:
            raise ValueError(
                f"unknown CWRU 12 kHz drive-end file numbers {unknown}; known: "
                f"{sorted(CWRU_12K_DRIVE_END)}"
            )
    entries = [CWRU_12K_DRIVE_END[n] for n in numbers]
    if loads is not None:
        entries = [e for e in entries if e.load_hp in set(loads)]
    return entries


def download_cwru(
    dest_dir: str | os.PathLike[str],
    files: Iterable[int | str] | None = None,
    base_url: str = CWRU_BASE_URL,
    loads: Sequence[int] | None = None,
    fetch: Fetch | None = None,
    progress: bool = False,
) -> list[Path]:
    """Download CWRU files into ``dest_dir`` and return their paths (see the module docstring).

    Args:
        dest_dir: target folder (created); files go to ``<LOAD>HP/`` sub-folders.
        files: official numbers (e.g. ``[97, 105]``); ``None`` = the whole table.
        base_url: where ``<NUMBER>.mat`` is served (any ``urllib`` URL, e.g. ``file://``).
        loads: keep only these loads (hp).
        fetch: ``fetch(url, destination_path)`` downloading one file (default: ``urllib``).
        progress: show a progress bar over the files.

    Raises ``ValueError`` (after deleting the file) when a download fails its integrity check.
    """
    fetch = fetch or _urllib_fetch
    root = Path(dest_dir)
    paths = []
    entries = select_cwru_files(files, loads)
    for entry in tqdm(entries, desc="CWRU files", unit="file", disable=None if progress else True):
        target = root / entry.relative_path
        if target.is_file() and _problem(entry, target) is None:
            paths.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        url = f"{base_url.rstrip('/')}/{entry.number}.mat"
        try:
            fetch(url, partial)
            problem = _problem(entry, partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if problem is not None:
            partial.unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            raise ValueError(f"download of {url} failed its check and was deleted: {problem}")
        os.replace(partial, target)
        paths.append(target)
    return paths
