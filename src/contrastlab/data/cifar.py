"""CIFAR-10 / CIFAR-100 (Krizhevsky 2009) from the official python-pickle archives.

Layout under ``data_dir`` (what the official ``.tar.gz`` archives extract to):

- ``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5``, ``test_batch``, ``batches.meta``
- ``cifar-100-python/train``, ``test``, ``meta`` (the 100 fine labels are used)

Each batch is a pickled dict whose ``data`` is uint8 ``[N, 3072]``: per row 1024 red, then 1024
green, then 1024 blue values, each a row-major 32x32 plane, so ``data.reshape(N, 3, 32, 32)`` is
already channels-first.

Pickles are read with an unpickler that only admits the numpy classes needed to rebuild arrays, so
a tampered file cannot run code. ``download=True`` fetches the official archive, checks its MD5 and
extracts it into a staging folder that is moved into place only when complete; a failure leaves
neither a half-written archive nor a half-extracted folder behind. An archive placed in
``data_dir`` by hand (machines without internet) is verified and extracted without downloading.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from contrastlab._checks import check_choice, check_int
from contrastlab.data.image_arrays import (
    check_image_size,
    make_image_splits,
    resize_images,
    stratified_holdout,
)
from contrastlab.data.splits import DataSplits, LabeledTensors

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"

CIFAR_IMAGE_SIZE = 32
CIFAR_VAL_SIZE = 5000
"""Training images held out for validation unless the caller says otherwise."""
_ROW_LENGTH = 3 * CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE


@dataclass(frozen=True)
class CifarArchive:
    """Where one CIFAR variant comes from and how its files are laid out."""

    url: str
    md5: str
    filename: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str


CIFAR_ARCHIVES: dict[str, CifarArchive] = {
    "cifar10": CifarArchive(
        url=CIFAR10_URL,
        md5=CIFAR10_MD5,
        filename="cifar-10-python.tar.gz",
        folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_file="test_batch",
        meta_file="batches.meta",
        label_key="labels",
        names_key="label_names",
    ),
    "cifar100": CifarArchive(
        url=CIFAR100_URL,
        md5=CIFAR100_MD5,
        filename="cifar-100-python.tar.gz",
        folder="cifar-100-python",
        train_files=("train",),
        test_file="test",
        meta_file="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
    ),
}

# (module, name) pairs an official batch may reference: numpy array/dtype reconstruction, for
# numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) writers, and ``_codecs.encode`` with which
# Python 3 stores bytes at pickle protocol 2.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        *((f"numpy.{core}.multiarray", "_reconstruct") for core in ("core", "_core")),
        *((f"numpy.{core}.multiarray", "scalar") for core in ("core", "_core")),
        *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
    }
)
_NUMPY_2 = int(np.__version__.split(".")[0]) >= 2


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a CIFAR file")
        if _NUMPY_2 and module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core.") :]  # skip numpy's deprecation shim
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {path}")
    try:
        with path.open("rb") as handle:
            # latin1 turns the Python 2 str keys and numpy buffers of the official files into
            # str keys and raw bytes.
            content = _ArrayUnpickler(handle, encoding="latin1").load()
    except Exception as exc:  # any failure to parse is a bad file, whatever the exception type
        raise ValueError(f"{path} is not a readable CIFAR pickle: {exc}") from exc
    if not isinstance(content, dict):
        raise ValueError(f"{path} should hold a dict, got {type(content).__name__}")
    return content


def read_cifar_batch(
    path: str | os.PathLike[str], label_key: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one official batch file: uint8 images ``[N, 3, 32, 32]`` and int64 labels ``[N]``."""
    path = Path(path)
    content = _load_pickle(path)
    for key in ("data", label_key):
        if key not in content:
            raise ValueError(f"{path} has no {key!r} entry (keys: {sorted(content)})")
    data = content["data"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        raise ValueError(f"{path}: 'data' must be a uint8 array [N, {_ROW_LENGTH}]")
    if data.shape[1] != _ROW_LENGTH:
        raise ValueError(f"{path}: 'data' rows must have {_ROW_LENGTH} values, got {data.shape[1]}")
    labels = np.asarray(content[label_key])
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: {label_key!r} must hold {data.shape[0]} integer labels, "
            f"got shape {labels.shape} and dtype {labels.dtype}"
        )
    side = CIFAR_IMAGE_SIZE
    images = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, side, side).copy())
    return images, torch.from_numpy(labels.astype(np.int64))


def read_cifar_class_names(path: str | os.PathLike[str], names_key: str) -> list[str]:
    """The class names stored under ``names_key`` in an official meta file."""
    path = Path(path)
    content = _load_pickle(path)
    names = content.get(names_key)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise ValueError(f"{path}: {names_key!r} must be a non-empty list of class names")
    return names


def file_md5(path: str | os.PathLike[str]) -> str:
    """Hex MD5 digest of a file, read in 1 MiB blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_url(url: str, destination: Path) -> None:
    """Stream ``url`` (``https://``, or ``file://`` for offline copies) into ``destination``."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response, destination.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        raise ConnectionError(f"could not download {url}: {exc}") from exc


def download_archive(url: str, destination: Path, md5: str) -> None:
    """Download ``url`` to ``destination`` if its MD5 is ``md5``; otherwise raise ``ValueError``.

    The bytes go to ``destination + '.part'`` first, which is renamed only after the check and
    deleted on any failure.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        fetch_url(url, partial)
        actual = file_md5(partial)
        if actual != md5:
            raise ValueError(
                f"download of {url} has MD5 {actual}, expected {md5}; the file was discarded "
                "(an interrupted or altered download): try again"
            )
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def _check_members(members: list[tarfile.TarInfo], archive: Path) -> None:
    for member in members:
        parts = PurePosixPath(member.name).parts
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
            raise ValueError(
                f"{archive} holds an unexpected entry {member.name!r}; refusing to extract"
            )


def extract_archive(archive: Path, data_dir: Path, folder: str) -> Path:
    """Extract ``folder/`` of a ``.tar.gz`` into ``data_dir`` atomically; return its path.

    Extraction happens in a hidden staging folder inside ``data_dir``; only a complete ``folder`` is
    moved into place, and the staging folder is always removed.
    """
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=data_dir))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = tar.getmembers()
                _check_members(members, archive)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=members, filter="data")
                else:  # Python < 3.10.12: members were checked above
                    tar.extractall(staging, members=members)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError(
                f"{archive} is corrupt or truncated ({exc}); delete it and download it again"
            ) from exc
        extracted = staging / folder
        if not extracted.is_dir():
            raise ValueError(f"{archive} does not contain the folder {folder}/")
        target = data_dir / folder
        os.replace(extracted, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare_cifar(
    name: str,
    data_dir: str | os.PathLike[str],
    download: bool = False,
    base_url: str | None = None,
) -> Path:
    """Make sure the extracted folder of ``name`` exists under ``data_dir``; return its path.

    Order: an existing folder is used as is; else an archive in ``data_dir`` is verified and
    extracted; else, with ``download=True``, the official archive is fetched (from ``base_url``,
    a mirror serving the archive under its official file name, when given), verified and
    extracted; else ``FileNotFoundError``.
    """
    check_choice("name", name, tuple(CIFAR_ARCHIVES))
    spec = CIFAR_ARCHIVES[name]
    data_dir = Path(data_dir)
    folder = data_dir / spec.folder
    if folder.is_dir():
        return folder
    archive = data_dir / spec.filename
    if archive.is_file():
        actual = file_md5(archive)
        if actual != spec.md5:
            raise ValueError(
                f"{archive} has MD5 {actual}, expected {spec.md5} (incomplete or altered): "
                "delete it and download it again"
            )
    elif download:
        url = spec.url if base_url is None else f"{base_url.rstrip('/')}/{spec.filename}"
        download_archive(url, archive, spec.md5)
    else:
        raise FileNotFoundError(
            f"{name} not found: expected the folder {folder} (or the archive {archive}). "
            f"Pass download=True (--download on the command line) to fetch it from {spec.url}, "
            "or copy the archive there."
        )
    return extract_archive(archive, data_dir, spec.folder)


def load_cifar_splits(
    name: str = "cifar10",
    data_dir: str | os.PathLike[str] = "data",
    download: bool = False,
    size: int = CIFAR_IMAGE_SIZE,
    val_size: int = CIFAR_VAL_SIZE,
    seed: int = 0,
) -> DataSplits:
    """CIFAR-10 or CIFAR-100 (fine labels) as uint8 ``[N, 3, size, size]`` images.

    Splits: ``val_size`` images held out of the official training set (stratified, fixed by
    ``seed``), the rest of it as train, and the official test set as test; ``val_size=0`` trains
    on the whole official training set (SupContrast's setting) and leaves val empty.
    ``size != 32`` resizes every image in memory (bilinear); prefer resizing in the batch
    transforms for large sizes.
    """
    check_choice("name", name, tuple(CIFAR_ARCHIVES))
    check_image_size(size)
    check_int("val_size (images)", val_size, minimum=0)
    spec = CIFAR_ARCHIVES[name]
    folder = prepare_cifar(name, data_dir, download)
    class_names = read_cifar_class_names(folder / spec.meta_file, spec.names_key)
    parts = [read_cifar_batch(folder / f, spec.label_key) for f in spec.train_files]
    train_images = torch.cat([images for images, _ in parts])
    train_labels = torch.cat([labels for _, labels in parts])
    test_images, test_labels = read_cifar_batch(folder / spec.test_file, spec.label_key)
    for split, labels in (("train", train_labels), ("test", test_labels)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(
                f"{name} {split} labels must lie in [0, {len(class_names)}) "
                f"(the classes in {spec.meta_file}), got [{labels.min()}, {labels.max()}]"
            )
    keep, held = stratified_holdout(
        np.arange(len(train_labels)), train_labels.numpy(), val_size, seed
    )
    train_images, test_images = resize_images(train_images, size), resize_images(test_images, size)
    keep_t, held_t = torch.from_numpy(keep), torch.from_numpy(held)
    return make_image_splits(
        LabeledTensors(train_images[keep_t], train_labels[keep_t]),
        LabeledTensors(train_images[held_t], train_labels[held_t]),
        LabeledTensors(test_images, test_labels),
        class_names=class_names,
        source=name,
        seed=seed,
        original_size=CIFAR_IMAGE_SIZE,
        val_size=val_size,
        data_dir=str(Path(data_dir)),
    )
