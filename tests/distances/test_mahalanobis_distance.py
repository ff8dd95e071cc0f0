"""Mahalanobis distance: closed forms, shrinkage estimation, buffers and errors."""

from __future__ import annotations

import pytest
import torch
from sklearn.covariance import LedoitWolf, ShrunkCovariance

from contrastlab.distances import (
    EuclideanDistance,
    MahalanobisDistance,
    ledoit_wolf_shrinkage,
    mahalanobis_pairwise,
    shrunk_covariance,
)


def _random_covariance(dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(dim, dtype=torch.float64)


def _loop_reference(x: torch.Tensor, y: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    out = torch.empty(x.shape[0], y.shape[0], dtype=torch.float64)
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            diff = (x[i] - y[j]).double()
            out[i, j] = torch.sqrt(diff @ precision @ diff)
    return out


def test_identity_covariance_is_euclidean() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    distance = MahalanobisDistance(covariance=torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(distance.pairwise(x, y), EuclideanDistance().pairwise(x, y))


def test_diagonal_covariance_closed_form() -> None:
    covariance = torch.diag(torch.tensor([4.0, 9.0], dtype=torch.float64))
    distance = MahalanobisDistance(covariance=covariance)
    x = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    y = torch.zeros(1, 2, dtype=torch.float64)
    # sqrt((2/2)^2 + (3/3)^2) = sqrt(2)
    torch.testing.assert_close(distance.paired(x, y), torch.tensor([2.0**0.5], dtype=torch.float64))


@pytest.mark.parametrize("given", ["covariance", "precision"])
def test_matches_loop_reference_with_full_covariance(given: str) -> None:
    covariance = _random_covariance(4, seed=1)
    precision = torch.linalg.inv(covariance)  # only the test reference inverts a matrix
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    y = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    kwargs = {given: covariance if given == "covariance" else precision}
    distance = MahalanobisDistance(**kwargs)
    expected = _loop_reference(x, y, precision)
    torch.testing.assert_close(distance.pairwise(x, y), expected, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(
        distance.paired(x[:3], y), torch.diagonal(expected[:3]), atol=1e-10, rtol=1e-10
    )


def test_gradcheck_and_zero_distance_gradient() -> None:
    distance = MahalanobisDistance(covariance=_random_covariance(3, seed=3))
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(distance.pairwise, (x, y))
    assert torch.autograd.gradcheck(distance.paired, (x, y))
    z = x.detach().clone().requires_grad_(True)
    distance.paired(z, z.detach()).sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_ledoit_wolf_shrinkage_matches_sklearn() -> None:
    generator = torch.Generator().manual_seed(5)
    data = torch.randn(40, 10, generator=generator, dtype=torch.float64) @ torch.randn(
        10, 10, generator=generator, dtype=torch.float64
    )
    reference = LedoitWolf().fit(data.numpy())
    assert float(ledoit_wolf_shrinkage(data)) == pytest.approx(reference.shrinkage_, rel=1e-10)
    torch.testing.assert_close(
        shrunk_covariance(data), torch.from_numpy(reference.covariance_), atol=1e-10, rtol=1e-10
    )


def test_fixed_shrinkage_matches_sklearn() -> None:
    generator = torch.Generator().manual_seed(6)
    data = torch.randn(30, 5, generator=generator, dtype=torch.float64)
    reference = ShrunkCovariance(shrinkage=0.3).fit(data.numpy())
    torch.testing.assert_close(
        shrunk_covariance(data, 0.3), torch.from_numpy(reference.covariance_), atol=1e-12, rtol=0
    )


def test_fit_recovers_the_covariance_and_handles_few_samples() -> None:
    covariance = _random_covariance(3, seed=7)
    generator = torch.Generator().manual_seed(8)
    data = torch.randn(20000, 3, generator=generator, dtype=torch.float64)
    data = data @ torch.linalg.cholesky(covariance).T
    distance = MahalanobisDistance().fit(data, shrinkage=0.0)
    factor = distance.cholesky_factor
    torch.testing.assert_close(factor @ factor.T, covariance, atol=0.1, rtol=0.05)
    # More dimensions than samples: the sample covariance is singular, the shrunk one is not.
    few = torch.randn(5, 20, generator=generator, dtype=torch.float64)
    fitted = MahalanobisDistance().fit(few)
    assert torch.isfinite(fitted.pairwise(few, few)).all()
    with pytest.raises(ValueError, match="not positive definite"):
        MahalanobisDistance().fit(few, shrinkage=0.0)


def test_buffer_moves_with_to_and_round_trips_through_state_dict() -> None:
    generator = torch.Generator().manual_seed(9)
    data = torch.randn(50, 4, generator=generator)
    fitted = MahalanobisDistance().fit(data)
    assert "cholesky_factor" in fitted.state_dict()
    as_double = fitted.to(torch.float64)
    assert as_double.cholesky_factor.dtype == torch.float64
    precision_based = MahalanobisDistance(precision=_random_covariance(4, seed=10))
    x = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    for source in (as_double, precision_based):
        restored = MahalanobisDistance()
        restored.load_state_dict(source.state_dict())
        assert restored.parameterization == source.parameterization
        torch.testing.assert_close(restored.pairwise(x, x), source.pairwise(x, x))


def test_errors() -> None:
    x = torch.ones(3, 2)
    with pytest.raises(ValueError, match="call fit"):
        MahalanobisDistance().pairwise(x, x)
    with pytest.raises(ValueError, match="not both"):
        MahalanobisDistance(covariance=torch.eye(2), precision=torch.eye(2))
    with pytest.raises(ValueError, match="square"):
        MahalanobisDistance(covariance=torch.ones(2, 3))
    with pytest.raises(ValueError, match="symmetric"):
        MahalanobisDistance(covariance=torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="not positive definite"):
        MahalanobisDistance(precision=torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="cholesky_factor must be"):
        MahalanobisDistance(covariance=torch.eye(3)).pairwise(x, x)
    with pytest.raises(ValueError, match="shrinkage"):
        MahalanobisDistance().fit(x, shrinkage=1.5)
    with pytest.raises(ValueError, match="shrinkage"):
        MahalanobisDistance().fit(x, shrinkage="oas")
    with pytest.raises(ValueError, match="at least 2 samples"):
        MahalanobisDistance().fit(x[:1])
    with pytest.raises(ValueError, match="NaN or inf"):
        MahalanobisDistance().fit(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="same feature dimension D"):
        mahalanobis_pairwise(x, torch.ones(3, 4), torch.eye(2))
