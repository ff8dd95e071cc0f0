"""Test-suite wide settings."""

from __future__ import annotations

import os

import pytest
import torch

# Tiny tensors gain nothing from intra-op threads, and on a shared 2-core machine the thread
# hand-offs dominate (a ResNet forward on 2x1x8x8 takes 0.06 s on one thread, 1.5 s on two under
# load). Benchmarks, not tests, measure speed.
torch.set_num_threads(1)
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
