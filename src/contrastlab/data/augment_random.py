"""Where a batch augmentation's random numbers come from: one seed per call, on the host.

Every call of an augmentation takes a fresh 63-bit *call seed* (a Python int, so no device is
involved) and seeds two generators with it: a ``torch.Generator`` on the batch's device, which
draws every per-sample parameter in one kernel, and a ``random.Random`` for the few choices made
once per batch on the host (e.g. the order of the colour-jitter steps). Re-seeding a generator is a
host-side operation: nothing waits for the device.

Two sources of call seeds:

* :class:`GlobalSeedStream` (``seed=None``): each call seed is drawn from torch's global CPU
  generator, so ``torch.manual_seed`` reproduces a run. The stream has no state of its own: a
  checkpoint that holds torch's global RNG state (the training loop saves every rank's) resumes it
  exactly, on every rank of a multi-process run.
* :class:`SeededStream` (``seed=int``): call seed number ``n`` is a hash of ``(seed, rank, n)``,
  independent of any global RNG. ``rank`` is the process's rank under ``torch.distributed``
  (0 otherwise), so the processes of one run draw different parameters from one seed. Its state,
  ``{"seed": int, "calls": int}`` (plain ints: checkpoints load with ``weights_only=True``), is the
  module's extra state, so ``state_dict()`` carries it and a module restored from it repeats the
  next draws bit for bit. Every rank makes the same number of calls, so rank 0's saved state
  resumes every rank.
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from contrastlab._values import check_int

_MASK_64 = (1 << 64) - 1
_SEED_LIMIT = (1 << 63) - 1  # call seeds are in [0, 2**63 - 1), valid for every torch generator


def _splitmix64(value: int) -> int:
    """One step of SplitMix64 (Steele, Lea & Flood 2014): a bijective 64-bit mixer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK_64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK_64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK_64
    return value ^ (value >> 31)


def hash_seed(*values: int) -> int:
    """A 63-bit seed mixing ``values`` (non-negative ints) with SplitMix64, one after another."""
    state = 0
    for value in values:
        state = _splitmix64(state ^ (value & _MASK_64))
    return state % _SEED_LIMIT


def _process_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class GlobalSeedStream(nn.Module):
    """Call seeds drawn from torch's global CPU generator (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._device_generators: dict[torch.device, torch.Generator] = {}

    def next_call_seed(self) -> int:
        # A CPU tensor: tolist() reads host memory, no device is waited for.
        return int(torch.randint(_SEED_LIMIT, (1,)).tolist()[0])

    def next_generators(self, device: torch.device) -> tuple[torch.Generator, random.Random]:
        """Advance to the next call: a generator on ``device`` and a host ``random.Random``, both
        seeded with the next call seed."""
        call_seed = self.next_call_seed()
        generator = self._device_generators.get(device)
        if generator is None:
            generator = self._device_generators[device] = torch.Generator(device=device)
        generator.manual_seed(call_seed)
        return generator, random.Random(call_seed)


class SeededStream(GlobalSeedStream):
    """Call seeds hashed from ``(seed, rank, calls)``; checkpointed as extra state."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = check_int("seed", seed, minimum=0)
        self.calls = 0

    def next_call_seed(self) -> int:
        call_seed = hash_seed(self.seed, _process_rank(), self.calls)
        self.calls += 1
        return call_seed

    def get_extra_state(self) -> dict[str, int]:
        return {"seed": self.seed, "calls": self.calls}

    def set_extra_state(self, state: Any) -> None:
        if not (isinstance(state, dict) and set(state) == {"seed", "calls"}):
            raise ValueError(
                f"expected the state {{'seed': int, 'calls': int}}, got {state!r:.200}"
            )
        self.seed = check_int("seed", state["seed"], minimum=0)
        self.calls = check_int("calls", state["calls"], minimum=0)

    def extra_repr(self) -> str:
        return f"seed={self.seed}, calls={self.calls}"


def seed_stream(seed: int | None) -> GlobalSeedStream:
    """:class:`GlobalSeedStream` for ``seed=None``, else :class:`SeededStream`."""
    return GlobalSeedStream() if seed is None else SeededStream(seed)
