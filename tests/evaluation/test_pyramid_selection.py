"""Choosing the depth of a temporal pyramid by cross-validation: prefix columns against
temporal_pyramid_max itself, the choice on features where position does or does not matter,
the tie rule and bad input."""

from __future__ import annotations

import pytest
import torch

import contrastlab.evaluation.pyramid_selection as selection
from contrastlab.evaluation.pyramid_selection import prefix_columns, select_pyramid_depth
from contrastlab.models.pyramid_pooling import temporal_pyramid_max


@pytest.mark.parametrize("pyramid", [(1, 2, 4, 8), (2, 3), (1,)])
def test_prefix_columns_are_the_shallower_pyramids_features(pyramid):
    r = torch.randn(3, 24, 5)
    features = temporal_pyramid_max(r, pyramid)
    for depth in range(1, len(pyramid) + 1):
        columns = prefix_columns(features, pyramid, depth)
        torch.testing.assert_close(features[:, :columns], temporal_pyramid_max(r, pyramid[:depth]))


def series_with_a_bump(count: int, seed: int, where_matters: bool) -> tuple[torch.Tensor, ...]:
    """``r [N, 32, 6]``: noise and one bump per series in channel 0. Class 0 / 1 put it in the
    first / second half (``where_matters``), or anywhere, with height 1 / 3 (it does not). The
    noise channels keep the series apart, so that the hard-margin SVM converges quickly."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    r = 0.3 * torch.randn(count, 32, 6, generator=generator)
    for index, label in enumerate(labels.tolist()):
        if where_matters:
            start = 16 * label + int(torch.randint(0, 12, (1,), generator=generator))
            height = 1.0 + 2.0 * float(torch.rand(1, generator=generator))
        else:
            start = int(torch.randint(0, 28, (1,), generator=generator))
            height = 1.0 + 2.0 * label + 0.3 * float(torch.randn(1, generator=generator))
        r[index, start : start + 4, 0] += height
    return r, labels


def test_position_levels_are_kept_only_where_position_tells_the_classes_apart():
    pyramid = (1, 2, 4)
    r, labels = series_with_a_bump(40, 0, where_matters=True)
    aligned = select_pyramid_depth(temporal_pyramid_max(r, pyramid), labels, pyramid)
    assert aligned.pyramid != (1,)  # the maximum alone cannot see which half holds the bump
    assert (
        aligned.cv_accuracy["1"] < 75.0 <= aligned.cv_accuracy[",".join(map(str, aligned.pyramid))]
    )
    r, labels = series_with_a_bump(40, 1, where_matters=False)
    anywhere = select_pyramid_depth(temporal_pyramid_max(r, pyramid), labels, pyramid)
    assert anywhere.pyramid == (1,) and anywhere.cv_accuracy["1"] >= 90.0
    assert anywhere.cv_accuracy["1"] == max(anywhere.cv_accuracy.values())
    assert list(anywhere.cv_accuracy) == ["1", "1,2", "1,2,4"]
    assert anywhere.columns == 6  # the maximum of each of the 6 channels


def test_a_tie_keeps_the_shallower_pyramid(monkeypatch):
    monkeypatch.setattr(selection, "cross_validated_svm_accuracy", lambda *args, **kw: 90.0)
    choice = select_pyramid_depth(torch.randn(10, 7 * 4), torch.arange(10) % 2, (1, 2, 1))
    assert choice.pyramid == (1,) and choice.columns == 7


def test_one_level_leaves_nothing_to_choose(monkeypatch):
    monkeypatch.setattr(selection, "cross_validated_svm_accuracy", lambda *args, **kw: 1 / 0)
    choice = select_pyramid_depth(torch.randn(10, 7), torch.arange(10) % 2, (1,))
    assert choice == selection.PyramidChoice((1,), 7, {})


def test_features_that_do_not_match_the_pyramid_are_refused():
    with pytest.raises(ValueError, match=r"not \[N, D \* 7\] pyramid features of 1,2,4"):
        prefix_columns(torch.randn(4, 10), (1, 2, 4), 1)
    with pytest.raises(ValueError, match=r"depth must be in \[1, 3\]"):
        prefix_columns(torch.randn(4, 14), (1, 2, 4), 4)
