"""The split of a streamed labelled folder on its file listing (no file is opened: the listings
here name files that do not exist)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from contrastlab.data.image_folder import UNLABELLED, ImageListing
from contrastlab.data.image_stream_splits import split_listing


def listing(per_class: tuple[int, ...] = (20, 30, 10)) -> ImageListing:
    names = [f"class{index}" for index in range(len(per_class))]
    files = [Path(f"/nowhere/{names[c]}/{i:03d}.png") for c, n in enumerate(per_class)
             for i in range(n)]  # fmt: skip
    labels = [c for c, n in enumerate(per_class) for _ in range(n)]
    return ImageListing(Path("/nowhere"), files, labels, names)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_splits_partition_the_listing_per_class(seed: int) -> None:
    whole = listing()
    splits = split_listing(whole, seed)
    parts = [splits.train, splits.val, splits.test]
    files = [path for part in parts for path in part.files]
    assert sorted(files) == sorted(whole.files) and len(set(files)) == len(files)
    label_of = dict(zip(whole.files, whole.labels, strict=True))
    for part in parts:
        assert part.files == sorted(part.files)  # listing order kept
        assert part.labels == [label_of[path] for path in part.files]
        assert part.class_names == whole.class_names and part.root == whole.root
    # 60 files: round(0.2 * 60) = 12 test, round(0.15 * 60) = 9 val, each class in proportion
    assert (len(splits.test), len(splits.val)) == (12, 9)
    assert Counter(splits.test.labels) == {0: 4, 1: 6, 2: 2}
    assert split_listing(whole, seed) == splits  # a function of the seed


def test_an_unlabelled_listing_or_a_tiny_class_cannot_be_split() -> None:
    unlabelled = ImageListing(Path("/nowhere"), [Path("/nowhere/a.png")] * 4, [UNLABELLED] * 4, [])
    with pytest.raises(ValueError, match="splitting needs class labels"):
        split_listing(unlabelled, 0)
    with pytest.raises(ValueError, match="stratified"):
        split_listing(listing((1, 30)), 0)
