"""Seeding and RNG state capture, in plain data so checkpoints load with ``weights_only=True``."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The state of every RNG a run draws from, as tensors, lists and ints only."""
    version, python_state, gauss = random.getstate()
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(python_state), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gauss": float(cached_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    return value


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    # Checkpoints may have been mapped onto an accelerator; RNG states live on the CPU.
    state = {key: _to_cpu(value) for key, value in state.items()}
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_rank_rng_state(
    checkpoint: dict[str, Any], rank: int, world_size: int, fallback_seed: int
) -> bool:
    """Restore this rank's RNG state from a checkpoint; True when it was saved for this rank.

    Checkpoints of multi-process runs hold every rank's state in ``rng_per_rank`` (``rng`` is
    rank 0's). When the world size differs from the saved run's (or the checkpoint predates
    per-rank states), ranks other than 0 cannot continue their own streams: Python, NumPy and
    torch are then seeded from ``fallback_seed`` and the rank instead, and False is returned.
    """
    per_rank = checkpoint.get("rng_per_rank")
    if world_size == 1 or (per_rank is not None and len(per_rank) == world_size):
        restore_rng_state(checkpoint["rng"] if world_size == 1 else per_rank[rank])
        return True
    restore_rng_state(checkpoint["rng"])
    if rank:
        seed_everything(fallback_seed + rank)
    return False
