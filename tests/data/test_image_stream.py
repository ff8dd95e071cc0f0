"""Streamed image files: listing layouts, full-resolution crops, bad files, the batch source."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contrastlab.data import image_stream, image_stream_loader
from contrastlab.data.image_arrays import channel_mean_std
from contrastlab.data.image_folder import UNLABELLED, list_image_files, read_image
from contrastlab.data.image_stream import (
    MAX_BAD_IN_A_ROW,
    RandomCropViews,
    crop_uniforms,
)
from contrastlab.data.image_stream_loader import LoaderWorkerError, resized_batches
from contrastlab.data.image_stream_source import (
    STATISTICS_SAMPLE,
    fits_in_memory,
    load_folder_data,
    sample_statistics,
)
from contrastlab.data.views import GivenViews
from contrastlab.training.batches import epoch_batches
from contrastlab.training.streaming_batches import StreamingViewBatches

SCALE, RATIO = (0.2, 1.0), (3.0 / 4.0, 4.0 / 3.0)


def _write_tree(root: Path, sizes: list[tuple[int, int]], classes: tuple[str, ...]) -> None:
    """Random RGB images of ``sizes`` (width, height), spread over ``classes`` sub-folders
    (nested one level deeper for every third image), PNG and JPEG alternately."""
    generator = np.random.default_rng(1)
    for index, (width, height) in enumerate(sizes):
        folder = root / classes[index % len(classes)] / ("deep" if index % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:03d}.{'png' if index % 2 else 'jpg'}")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    _write_tree(root, [(20 + 3 * i, 15 + 2 * i) for i in range(12)], ("a", "b"))
    return root


def reference_box(
    u: np.ndarray, height: int, width: int
) -> tuple[int, int, int, int]:  # (left, top, w, h)
    """torchvision's RandomResizedCrop.get_params, one scalar step at a time."""
    for t in range(10):
        target_area = height * width * (SCALE[0] + (SCALE[1] - SCALE[0]) * u[t])
        log_low, log_high = math.log(RATIO[0]), math.log(RATIO[1])
        aspect = math.exp(log_low + (log_high - log_low) * u[10 + t])
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            return math.floor(u[20] * (width - w + 1)), math.floor(u[21] * (height - h + 1)), w, h
    if width / height < RATIO[0]:
        w, h = width, round(width / RATIO[0])
    elif width / height > RATIO[1]:
        w, h = round(height * RATIO[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def test_views_are_full_resolution_crops_with_torchvisions_rule(tree: Path) -> None:
    listing = list_image_files(tree, "folders")
    views = RandomCropViews(listing, size=8, n_views=3, seed=7, scale=SCALE, ratio=RATIO)
    for index in range(len(listing)):
        crops, label, bad, found = views[(2, index)]
        assert found and not bad and label == listing.labels[index]
        assert crops.shape == (3, 3, 8, 8) and crops.dtype == np.uint8
        uniforms = crop_uniforms(7, 2, index, 3)
        with Image.open(listing.files[index]) as image:
            rgb = image.convert("RGB")
            for view, u in zip(crops, uniforms, strict=True):
                left, top, w, h = reference_box(u, rgb.height, rgb.width)
                expected = rgb.crop((left, top, left + w, top + h)).resize((8, 8), Image.BILINEAR)
                assert np.array_equal(view.transpose(1, 2, 0), np.asarray(expected))


def test_crops_depend_on_seed_epoch_and_index_only(tree: Path) -> None:
    listing = list_image_files(tree, "folders")
    first = RandomCropViews(listing, size=8, n_views=2, seed=3)
    again = RandomCropViews(listing, size=8, n_views=2, seed=3)
    assert np.array_equal(first[(4, 5)][0], again[(4, 5)][0])
    assert not np.array_equal(first[(4, 5)][0], first[(5, 5)][0])


def test_listing_layouts_and_one_line_errors(tmp_path: Path, tree: Path) -> None:
    labelled = list_image_files(tree, "folders")
    assert labelled.class_names == ["a", "b"] and len(labelled) == 12
    assert any("deep" in str(path) for path in labelled.files)  # nested images are found
    unlabelled = list_image_files(tree, "none")
    assert sorted(unlabelled.files) == sorted(labelled.files)
    assert set(unlabelled.labels) == {UNLABELLED} and unlabelled.class_names == []
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no image files under .*empty \(.*; it is empty"):
        list_image_files(empty, "none")
    notes = tmp_path / "notes" / "x"
    notes.mkdir(parents=True)
    (notes / "a.txt").write_text("text")
    with pytest.raises(ValueError, match=r"no image files .*it holds e\.g\. \['x/a\.txt'\]"):
        list_image_files(notes.parent, "none")
    one = tmp_path / "one"
    _write_tree(one, [(10, 10)] * 2, ("only",))
    with pytest.raises(ValueError, match=r"one class folder .*--labels none"):
        list_image_files(one, "folders")
    loose = tmp_path / "loose"
    _write_tree(loose / "a", [(9, 9)], ("x",))
    _write_tree(loose / "b", [(9, 9)], ("y",))
    Image.new("RGB", (4, 4)).save(loose / "stray.png")
    with pytest.raises(ValueError, match=r"images lie directly in .*stray\.png.*--labels none"):
        list_image_files(loose, "folders")


def test_bad_files_are_replaced_reported_or_fatal(tree: Path) -> None:
    listing = list_image_files(tree, "folders")
    broken = listing.files[4]
    broken.write_bytes(b"\xff\xd8\xff not a jpeg at all")
    skip = RandomCropViews(listing, size=8, n_views=2, seed=0, on_bad_file="skip")
    crops, label, bad, found = skip[(1, 4)]
    assert found and [path for path, _ in bad] == [str(broken)]
    # the replacement is the next file in listing order, with its own label, cut with index 4's
    # draws
    assert label == listing.labels[5]
    assert np.array_equal(crops, skip.views_of(5, crop_uniforms(0, 1, 4, 2)))
    error = RandomCropViews(listing, size=8, n_views=2, seed=0, on_bad_file="error")
    crops, _, bad, found = error[(1, 4)]
    assert not found and len(bad) == 1 and not crops.any()
    for path in listing.files:
        path.write_bytes(b"junk")
    crops, _, bad, found = skip[(1, 0)]
    assert not found and len(bad) == MAX_BAD_IN_A_ROW
    log = image_stream_loader.BadFileLog("skip", tree)
    with pytest.raises(ValueError, match="32 image files in a row are unreadable"):
        log.record(bad, n_without_image=1)
    with pytest.raises(ValueError, match=r"cannot read image .*--on_bad_file skip"):
        image_stream_loader.BadFileLog("error", tree).record(bad[:1])


@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_batches_follow_the_epoch_order(tree: Path, workers: int) -> None:
    listing = list_image_files(tree, "folders")
    views = RandomCropViews(listing, size=8, n_views=2, seed=5)
    source = StreamingViewBatches(views, batch_size=4, seed=5, device=torch.device("cpu"),
                                  workers=workers)  # fmt: skip
    assert len(source) == 3
    for epoch in (2, 1):  # any epoch, in any order (a resumed run starts in the middle)
        batches = list(source.epoch(epoch))
        order = list(epoch_batches(12, 4, 5, epoch))
        assert len(batches) == len(order)
        for (images, labels), indices in zip(batches, order, strict=True):
            assert images.shape == (4, 2, 3, 8, 8) and images.dtype == torch.uint8
            expected = np.stack([views[(epoch, int(i))][0] for i in indices])
            assert torch.equal(images, torch.from_numpy(expected))
            assert labels.tolist() == [listing.labels[int(i)] for i in indices]


def test_skipped_files_are_warned_about_once(tree: Path) -> None:
    listing = list_image_files(tree, "none")
    listing.files[7].write_bytes(b"junk")
    views = RandomCropViews(listing, size=8, n_views=2, seed=0, on_bad_file="skip")
    source = StreamingViewBatches(views, 6, 0, torch.device("cpu"), workers=0)
    name = re.escape(listing.files[7].name)
    with pytest.warns(UserWarning, match=rf"skipped 1 unreadable file\(s\) .*{name}"):
        assert len(list(source.epoch(1))) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(source.epoch(2))  # the same file again: no second warning
    assert source.skipped_files() == [str(listing.files[7])]


def _die(self: RandomCropViews, position: int, uniforms: np.ndarray) -> np.ndarray:
    """A reader that kills its worker process."""
    import os

    os._exit(3)


def test_a_dead_worker_is_one_clear_error(tree: Path, monkeypatch) -> None:
    if torch.multiprocessing.get_start_method() != "fork":
        pytest.skip("the patched reader reaches the worker only when it is forked")
    monkeypatch.setattr(image_stream.RandomCropViews, "views_of", _die)
    views = RandomCropViews(list_image_files(tree, "none"), size=8, n_views=2, seed=0)
    source = StreamingViewBatches(views, 4, 0, torch.device("cpu"), workers=1)
    with pytest.raises(LoaderWorkerError, match=r"worker failed .*lower --workers"):
        list(source.epoch(1))


def test_sample_statistics_equal_those_of_the_resized_sample(tree: Path) -> None:
    listing = list_image_files(tree, "none")
    assert len(listing) < STATISTICS_SAMPLE  # every image is in the sample
    mean, std, sample, skipped = sample_statistics(listing, 6, 0, 0, "error", batch_size=5)
    every = torch.from_numpy(np.stack([read_image(p, 6) for p in listing.files]))
    expected_mean, expected_std = channel_mean_std(every)
    assert mean == pytest.approx(expected_mean, abs=1e-12)
    assert std == pytest.approx(expected_std, abs=1e-12)
    assert torch.equal(sample, every[:2]) and skipped == []


def test_resized_batches_keep_order_and_drop_bad_files(tree: Path) -> None:
    listing = list_image_files(tree, "folders")
    listing.files[2].write_bytes(b"junk")
    with pytest.warns(UserWarning, match="skipped 1"):
        batches = list(resized_batches(listing, 5, 4, 1, "skip"))
    indices = torch.cat([found for _, _, found in batches]).tolist()
    assert indices == [i for i in range(12) if i != 2]
    first = batches[0][0]
    assert torch.equal(first[0], torch.from_numpy(read_image(listing.files[0], 5).copy()))


def test_the_in_memory_rule(tree: Path) -> None:
    assert fits_in_memory(1024, 32, 3) and not fits_in_memory(1025, 32, 3)  # 3 MiB = 1024 x 3 KiB
    held = load_folder_data(tree, "folders", None, 8, 0, 1, 0, "error")
    assert not held.streamed and held.evaluation is not None and held.train is not None
    streamed = load_folder_data(tree, "none", tree, 8, 0, 0, 0, "error")
    assert streamed.streamed and streamed.train is None
    assert streamed.evaluation.class_names == ["a", "b"]  # the evaluation folder's


def test_given_views_transform_every_view_once() -> None:
    calls = []

    def double(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return x * 2

    views = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    out = GivenViews(double, n_views=3)(views)
    assert torch.equal(out, views * 2) and calls == [(6, 4)]
    with pytest.raises(ValueError, match=r"batch of 2 views \[B, 2, \.\.\.\], got \(2, 3, 4\)"):
        GivenViews(double, n_views=2)(views)


def test_close_stops_the_persistent_decoding_processes(tree: Path) -> None:
    import multiprocessing

    views = RandomCropViews(list_image_files(tree, "none"), size=8, n_views=1, seed=0)
    before = set(multiprocessing.active_children())
    source = StreamingViewBatches(views, 4, 0, torch.device("cpu"), workers=2)
    list(source.epoch(1))
    assert len(set(multiprocessing.active_children()) - before) == 2  # kept for the next epoch
    source.close()
    assert set(multiprocessing.active_children()) - before == set()
