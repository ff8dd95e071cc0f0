"""Generated recordings for the bearing and diagnose tests (no data folder needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from contrastlab.data.bearing_sim import simulate_bearing_record

SIM_WINDOW = 1024
SIM_RATE_HZ = 12_000.0


def simulated(
    class_name: str, n_samples: int = 12_000, seed: int = 7, load_hp: int = 0
) -> np.ndarray:
    """One simulated drive-end recording ``[T]`` at 12 kHz."""
    return simulate_bearing_record(
        class_name, load_hp=load_hp, n_samples=n_samples, seed=seed
    ).signal


def write_cwru_mat(folder: Path, class_name: str, load_hp: int, number: int, signal: np.ndarray,
                   rpm: float) -> Path:  # fmt: skip
    """A CWRU-named ``.mat`` file (``XNNN_DE_time``, ``XNNN_FE_time``, ``XNNNRPM``)."""
    name = "normal" if class_name == "normal" else f"12k_Drive_End_{class_name}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}_{load_hp}_{number}.mat"
    scipy.io.savemat(
        path,
        {
            f"X{number:03d}_DE_time": signal[:, None],
            f"X{number:03d}_FE_time": 0.5 * signal[:, None],
            f"X{number:03d}RPM": np.array([[rpm]]),
        },
    )
    return path
