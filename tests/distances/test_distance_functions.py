"""Euclidean, squared Euclidean, cosine and dot-product distances against explicit loops."""

from __future__ import annotations

import math

import pytest
import torch

from contrastlab.distances import (
    CosineDistance,
    CosineSimilarity,
    Distance,
    DotProductSimilarity,
    EuclideanDistance,
    SquaredEuclideanDistance,
)


def _loop_reference(name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Slow, obvious pairwise values from Python loops."""
    out = torch.empty(x.shape[0], y.shape[0], dtype=torch.float64)
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            a, b = x[i].double().tolist(), y[j].double().tolist()
            squared = sum((ak - bk) ** 2 for ak, bk in zip(a, b, strict=True))
            dot = sum(ak * bk for ak, bk in zip(a, b, strict=True))
            norms = math.sqrt(sum(ak**2 for ak in a)) * math.sqrt(sum(bk**2 for bk in b))
            out[i, j] = {
                "euclidean": math.sqrt(squared),
                "squared_euclidean": squared,
                "cosine_similarity": dot / norms,
                "cosine_distance": 1.0 - dot / norms,
                "dot_product": dot,
            }[name]
    return out


DISTANCES: dict[str, type[Distance]] = {
    "euclidean": EuclideanDistance,
    "squared_euclidean": SquaredEuclideanDistance,
    "cosine_similarity": CosineSimilarity,
    "cosine_distance": CosineDistance,
    "dot_product": DotProductSimilarity,
}


@pytest.mark.parametrize("name", sorted(DISTANCES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairwise_and_paired_match_loops(name: str, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, generator=generator, dtype=dtype)
    y = torch.randn(4, 5, generator=generator, dtype=dtype)
    distance = DISTANCES[name]()
    expected = _loop_reference(name, x, y)
    tolerance = 1e-10 if dtype == torch.float64 else 1e-5
    pairwise = distance.pairwise(x, y)
    assert pairwise.shape == (7, 4)
    assert pairwise.dtype == dtype
    torch.testing.assert_close(pairwise.double(), expected, atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(distance(x, y), pairwise)
    paired = distance.paired(x[:4], y)
    assert paired.shape == (4,)
    expected_paired = torch.diagonal(expected[:4])
    torch.testing.assert_close(paired.double(), expected_paired, atol=tolerance, rtol=tolerance)


def test_larger_is_closer_flags() -> None:
    assert not EuclideanDistance.larger_is_closer
    assert not SquaredEuclideanDistance.larger_is_closer
    assert not CosineDistance.larger_is_closer
    assert CosineSimilarity.larger_is_closer
    assert DotProductSimilarity.larger_is_closer


def test_euclidean_pairwise_matches_cdist_in_float64() -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(60, 16, generator=generator, dtype=torch.float64) * 10
    y = torch.randn(50, 16, generator=generator, dtype=torch.float64) * 10
    expected = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    torch.testing.assert_close(EuclideanDistance().pairwise(x, y), expected, atol=1e-12, rtol=1e-12)


def test_expansion_stays_accurate_far_from_the_origin_in_float32() -> None:
    # Points around 1e3 at mutual distances ~1e-2: the naive expansion |x|^2 + |y|^2 - 2x.y in
    # float32 cancels ~1e6 against 1e6 and returns noise of order sqrt(1e6 * 6e-8) ~ 0.2.
    generator = torch.Generator().manual_seed(2)
    centre = torch.full((1, 8), 1000.0, dtype=torch.float64)
    x64 = centre + 1e-2 * torch.randn(20, 8, generator=generator, dtype=torch.float64)
    y64 = centre + 1e-2 * torch.randn(20, 8, generator=generator, dtype=torch.float64)
    expected = torch.cdist(x64, y64, compute_mode="donot_use_mm_for_euclid_dist")
    result = EuclideanDistance().pairwise(x64.float(), y64.float()).double()
    # float32 cannot even represent the inputs to better than ~6e-5, which bounds what is possible.
    assert (result - expected).abs().max() < 5e-4


def test_expansion_clamps_negative_rounding_to_zero() -> None:
    generator = torch.Generator().manual_seed(3)
    x = 1e3 + torch.randn(30, 32, generator=generator)
    squared = SquaredEuclideanDistance().pairwise(x, x)
    assert (squared >= 0).all()
    assert torch.isfinite(EuclideanDistance().pairwise(x, x)).all()


def test_euclidean_gradient_at_zero_distance_is_zero_not_nan() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    EuclideanDistance().paired(x, y).sum().backward()
    assert x.grad is not None and y.grad is not None
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert torch.equal(y.grad, torch.zeros_like(y))
    x.grad = None
    EuclideanDistance().pairwise(x, x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_euclidean_gradient_is_the_unit_direction() -> None:
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    y = torch.zeros(1, 2, dtype=torch.float64)
    (EuclideanDistance().pairwise(x, y).sum()).backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.6, 0.8]], dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_gradcheck_float64(name: str) -> None:
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    distance = DISTANCES[name]()
    assert torch.autograd.gradcheck(distance.pairwise, (x, y))
    assert torch.autograd.gradcheck(distance.paired, (x, y[:4]))


def test_half_inputs_do_not_overflow() -> None:
    # Squared norms of 5e3 exceed the float16 maximum (65504); the result is computed in float32.
    x = torch.full((2, 4), 5e3, dtype=torch.float16)
    y = torch.zeros(3, 4, dtype=torch.float16)
    result = EuclideanDistance().pairwise(x, y)
    assert torch.isfinite(result).all()
    torch.testing.assert_close(result, torch.full((2, 3), 1e4), rtol=1e-3, atol=0)


def test_runs_under_cpu_autocast() -> None:
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(6, 4, generator=generator)
    y = torch.randn(5, 4, generator=generator)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        result = EuclideanDistance().pairwise(x, y)
    torch.testing.assert_close(result, torch.cdist(x, y), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_bad_inputs_raise_value_errors(name: str) -> None:
    distance = DISTANCES[name]()
    x = torch.ones(4, 3)
    with pytest.raises(ValueError, match="x must be 2-D"):
        distance.pairwise(torch.ones(4), x)
    with pytest.raises(ValueError, match="y must be 2-D"):
        distance.pairwise(x, torch.ones(2, 3, 1))
    with pytest.raises(ValueError, match="same feature dimension D"):
        distance.pairwise(x, torch.ones(4, 2))
    with pytest.raises(ValueError, match="same number of rows N"):
        distance.paired(x, torch.ones(5, 3))
    with pytest.raises(ValueError, match="NaN or inf"):
        distance.pairwise(x, torch.tensor([[0.0, float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        distance.paired(torch.tensor([[float("inf"), 0.0, 1.0]]), x[:1])
    with pytest.raises(ValueError, match="empty"):
        distance.pairwise(torch.empty(0, 3), x)
    with pytest.raises(ValueError, match="floating-point"):
        distance.pairwise(torch.ones(2, 3, dtype=torch.int64), x)
    with pytest.raises(ValueError, match="same dtype"):
        distance.pairwise(x, x.double())


def test_dot_product_of_half_inputs_does_not_overflow() -> None:
    """Norms of 320 give dot products above float16's 65504: computed in float32, like the
    Euclidean distances."""
    from contrastlab.distances import DotProductSimilarity

    x = torch.full((2, 64), 40.0, dtype=torch.float16)
    for result in (DotProductSimilarity().pairwise(x, x), DotProductSimilarity().paired(x, x)):
        assert result.dtype == torch.float32 and bool(torch.isfinite(result).all())
        assert torch.allclose(result, torch.full_like(result, 40.0 * 40.0 * 64))
