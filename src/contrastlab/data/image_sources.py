"""Image data sources by name: ``load_image_source(name, data_dir, size, ...)``.

Every source returns a :class:`~contrastlab.data.splits.DataSplits` whose inputs are ``uint8``
images ``[N, C, size, size]`` and whose labels are ``int64`` ``[N]``; ``metadata`` holds at least

- ``source``: the source name, ``image_size``: ``size``, ``in_channels``: ``C``;
- ``mean`` / ``std``: per-channel lists of the train split's pixel mean and (population) standard
  deviation on the [0, 1] scale, ready for ``ContrastiveImageAugment`` / ``EvalImageTransform``.

The helpers the sources share (resizing, statistics, splits) are in
:mod:`contrastlab.data.image_arrays`.
"""

from __future__ import annotations

import os
from typing import Any

from contrastlab.config.choices import IMAGE_SOURCES
from contrastlab.data.cifar import load_cifar_splits
from contrastlab.data.digits import load_digits_splits
from contrastlab.data.image_folder import load_image_folder
from contrastlab.data.splits import DataSplits


def load_image_source(
    name: str = "digits",
    data_dir: str | os.PathLike[str] | None = None,
    size: int = 32,
    download: bool = False,
    seed: int = 0,
    val_size: int | None = None,
    **options: Any,
) -> DataSplits:
    """Load an image source as uint8 ``[N, C, size, size]`` train / val / test splits.

    Args:
        name: one of ``IMAGE_SOURCES``: ``'digits'`` (scikit-learn's bundled 8x8 digits, nothing to
            download, ``data_dir`` unused), ``'cifar10'`` / ``'cifar100'`` (official python
            archives under ``data_dir``), ``'folder'`` (``data_dir/<class>/<image>``).
        data_dir: where the data lives; required for every source but ``digits``.
        size: side length of the returned images.
        download: allow fetching a missing CIFAR archive (nothing else is ever downloaded).
        seed: seed of the stratified split.
        val_size: CIFAR only: training images held out for validation (None: the loader's
            5000).
        options: extra keyword arguments of the source's loader (``load_digits_splits``,
            ``load_cifar_splits``, ``load_image_folder``), e.g. ``val_size=5000`` or ``channels=1``.
    """
    if val_size is not None:
        if name not in ("cifar10", "cifar100"):
            raise ValueError(f"val_size applies to the CIFAR sources, not {name!r}")
        options["val_size"] = val_size
    if name not in IMAGE_SOURCES:
        raise ValueError(f"unknown image source {name!r}; valid names: {', '.join(IMAGE_SOURCES)}")
    if name == "digits":
        return load_digits_splits(size=size, seed=seed, **options)
    if data_dir is None:
        raise ValueError(f"image source {name!r} needs data_dir (the directory holding the data)")
    if name == "folder":
        return load_image_folder(data_dir, size=size, seed=seed, **options)
    return load_cifar_splits(name, data_dir, download=download, size=size, seed=seed, **options)
