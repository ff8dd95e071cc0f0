"""MultiView: V independent draws of a transform, stacked as [B, V, ...]."""

from __future__ import annotations

import pytest
import torch

from contrastlab.data.image_augment import ContrastiveImageAugment, EvalImageTransform
from contrastlab.data.views import MultiView


def _images(batch: int = 4) -> torch.Tensor:
    return torch.randint(0, 256, (batch, 3, 16, 16), dtype=torch.uint8)


def test_shapes_for_any_number_of_views() -> None:
    augment = ContrastiveImageAugment(12, [0.5] * 3, [0.25] * 3)
    for n_views in (1, 2, 3):
        views = MultiView(augment, n_views=n_views)(_images())
        assert views.shape == (4, n_views, 3, 12, 12)
    doubled = MultiView(lambda x: torch.cat([x, x], dim=-1), n_views=2)(torch.ones(5, 7))
    assert doubled.shape == (5, 2, 14)


def test_views_are_independent_draws_in_sample_order() -> None:
    x = _images()
    views = MultiView(ContrastiveImageAugment(16, [0.5] * 3, [0.25] * 3), n_views=2)(x)
    for sample in range(4):
        assert not torch.equal(views[sample, 0], views[sample, 1])
    # With a deterministic transform view v of sample b is exactly transform(x)[b].
    evaluate = EvalImageTransform(16, [0.5] * 3, [0.25] * 3)
    same = MultiView(evaluate, n_views=3)(x)
    for view in range(3):
        torch.testing.assert_close(same[:, view], evaluate(x), rtol=0, atol=0)


def test_seed_reproduces_views() -> None:
    multi = MultiView(ContrastiveImageAugment(16, [0.5] * 3, [0.25] * 3), n_views=2)
    x = _images()
    torch.manual_seed(3)
    first = multi(x)
    torch.manual_seed(3)
    torch.testing.assert_close(multi(x), first, rtol=0, atol=0)


def test_module_transform_follows_to() -> None:
    multi = MultiView(EvalImageTransform(16, [0.5], [0.25]), n_views=2).to(torch.float64)
    assert all(buffer.dtype == torch.float64 for buffer in multi.buffers())
    assert "n_views=2" in repr(multi)


@pytest.mark.parametrize("n_views", [0, -1, 1.5, True, "2"])
def test_bad_n_views(n_views: object) -> None:
    with pytest.raises(ValueError, match="n_views"):
        MultiView(lambda x: x, n_views=n_views)  # type: ignore[arg-type]


def test_bad_transform_and_inputs() -> None:
    with pytest.raises(ValueError, match="callable"):
        MultiView("flip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch size from 4 to 2"):
        MultiView(lambda x: x[:2])(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\[B, ...\]"):
        MultiView(lambda x: x)(torch.tensor(1.0))
