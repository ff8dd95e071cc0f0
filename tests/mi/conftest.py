"""Fixtures shared by the mutual-information tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
import torch

GaussianSampler = Callable[[int, int, float, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny networks train ~10x faster on one thread than on two contended ones."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def correlated_gaussians() -> GaussianSampler:
    """``sample(n, dim, rho, generator)``: ``n`` float64 pairs ([n, dim] each)
    ``x ~ N(0, I)``, ``y = rho x + sqrt(1 - rho^2) eps``: ``I(X; Y) = -dim / 2 log(1 - rho^2)``."""

    def sample(
        n: int, dim: int, rho: float, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, dim, generator=generator, dtype=torch.float64)
        return x, rho * x + math.sqrt(1 - rho**2) * noise

    return sample
