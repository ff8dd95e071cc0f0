"""One entry point for the 1-D signal sources: ``load_signal_source(name, data_dir, **options)``.

- ``cwru``: real CWRU bearing recordings (:func:`contrastlab.data.cwru.load_cwru_splits`); needs
  ``data_dir`` or the environment variable ``CONTRASTLAB_CWRU_DIR``.
- ``bearing-sim``: the physics-based simulator
  (:func:`contrastlab.data.bearing_sim.simulate_bearing_dataset`); ``data_dir`` is not used.
- ``folder``: a folder of the user's own recordings, ``DIR/<class>/<file>`` or unlabelled
  (:func:`contrastlab.data.signal_folder.load_folder_splits`); needs ``data_dir``.
- ``ucr``: UCR sets bundled with aeon (:func:`contrastlab.data.ucr.load_ucr_splits`, option
  ``dataset``); ``data_dir`` is aeon's ``extract_path`` for sets not bundled.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contrastlab.config.choices import SIGNAL_SOURCES
from contrastlab.config.signal import CWRU_DIR_ENV
from contrastlab.data.splits import DataSplits


def _loader(name: str) -> Callable[..., DataSplits]:
    # Imported lazily: the UCR loader pulls in aeon, which takes seconds to import.
    if name == "cwru":
        from contrastlab.data.cwru import load_cwru_splits

        return load_cwru_splits
    if name == "bearing-sim":
        from contrastlab.data.bearing_sim import simulate_bearing_dataset

        return simulate_bearing_dataset
    if name == "folder":
        from contrastlab.data.signal_folder import load_folder_splits

        return load_folder_splits
    from contrastlab.data.ucr import load_ucr_splits

    return load_ucr_splits


def load_signal_source(
    name: str, data_dir: str | os.PathLike[str] | None = None, **options: Any
) -> DataSplits:
    """Load the signal source ``name`` (one of
    :data:`contrastlab.config.choices.SIGNAL_SOURCES`) as :class:`DataSplits`.

    ``options`` are passed to the source's loader; an option it does not take raises
    ``ValueError`` listing the ones it does.
    """
    if name not in SIGNAL_SOURCES:
        raise ValueError(f"unknown signal source {name!r}; choose one of {list(SIGNAL_SOURCES)}")
    loader = _loader(name)
    accepted = [
        p for p in inspect.signature(loader).parameters if p not in ("data_dir", "extract_path")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"source {name!r} does not take options {unknown}; it takes {accepted}")
    if name == "cwru":
        data_dir = data_dir if data_dir is not None else os.environ.get(CWRU_DIR_ENV)
        if data_dir is None:
            raise ValueError(f"the cwru source needs data_dir or the {CWRU_DIR_ENV} variable")
        return loader(Path(data_dir), **options)
    if name == "ucr":
        return loader(extract_path=data_dir, **options)
    if name == "folder":
        if data_dir is None:
            raise ValueError("the folder source needs data_dir, the folder of recordings")
        return loader(Path(data_dir), **options)
    if data_dir is not None:
        raise ValueError(f"the {name!r} source reads no files; got data_dir={data_dir!r}")
    return loader(**options)
