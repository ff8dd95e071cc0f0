"""The class-per-folder image reader on generated PNG / JPEG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contrastlab.data.image_folder import list_image_folder, load_image_folder, read_image
from contrastlab.data.image_sources import load_image_source

COLOURS = {"blue": (0, 0, 255), "green": (0, 200, 0), "red": (255, 0, 0)}


def _make_folder(root: Path, per_class: int = 10) -> Path:
    for index, (name, colour) in enumerate(COLOURS.items()):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            size = (12 + i, 9 + 2 * i)  # various sizes and aspect ratios
            image = Image.new("RGB", size, colour)
            if index == 1 and i % 2:
                image = image.convert("RGBA")  # alpha is dropped
            if index == 2 and i % 3 == 0:
                image = image.convert("P")  # palette images are expanded
            image.save(folder / f"img_{i:02d}.png")
        (folder / "notes.txt").write_text("not an image")  # skipped: not an image extension
    (root / ".cache").mkdir()  # hidden folders are not classes
    return root


def test_reads_resizes_and_labels_every_image(tmp_path: Path) -> None:
    root = _make_folder(tmp_path / "images")
    splits = load_image_folder(root, size=8, channels=3, val_fraction=0.2, test_fraction=0.2)
    assert splits.class_names == ["blue", "green", "red"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 6, 6)
    for split in (splits.train, splits.val, splits.test):
        assert split.inputs.dtype == torch.uint8 and split.inputs.shape[1:] == (3, 8, 8)
        assert split.labels.dtype == torch.int64
        counts = torch.bincount(split.labels, minlength=3)
        assert torch.all(counts == counts[0])  # stratified: equal classes stay equal
        for image, label in zip(split.inputs, split.labels, strict=True):
            colour = COLOURS[splits.class_names[label]]
            assert torch.all(image == torch.tensor(colour, dtype=torch.uint8).view(3, 1, 1))
    meta = splits.metadata
    assert (meta["source"], meta["image_size"], meta["in_channels"]) == ("folder", 8, 3)
    unit = splits.train.inputs.double() / 255
    assert meta["mean"] == pytest.approx(unit.mean(dim=(0, 2, 3)).tolist())


def test_grayscale_conversion_matches_pillow(tmp_path: Path) -> None:
    root = _make_folder(tmp_path / "images", per_class=5)
    splits = load_image_source(
        "folder", data_dir=root, size=4, channels=1, val_fraction=0.0, test_fraction=0.2
    )
    assert splits.input_shape == (1, 4, 4) and splits.metadata["in_channels"] == 1
    for image, label in zip(splits.train.inputs, splits.train.labels, strict=True):
        colour = COLOURS[splits.class_names[label]]
        expected = Image.new("RGB", (1, 1), colour).convert("L").getpixel((0, 0))
        assert torch.all(image == expected)


def test_read_image_resizes_content_not_just_shape(tmp_path: Path) -> None:
    # Left half black, right half white: after resizing the columns keep that order.
    array = np.zeros((20, 40), dtype=np.uint8)
    array[:, 20:] = 255
    path = tmp_path / "half.png"
    Image.fromarray(array).save(path)
    pixels = read_image(path, size=8, channels=1)
    assert pixels.shape == (1, 8, 8) and pixels.dtype == np.uint8
    assert np.all(pixels[0, :, :3] == 0) and np.all(pixels[0, :, 5:] == 255)
    rgb = read_image(path, size=8, channels=3)
    assert rgb.shape == (3, 8, 8) and np.array_equal(rgb[0], rgb[2])


def test_listing_is_sorted_and_deterministic(tmp_path: Path) -> None:
    root = _make_folder(tmp_path / "images", per_class=10)
    names, samples = list_image_folder(root)
    assert names == ["blue", "green", "red"]
    assert [p.name for p, label in samples if label == 0] == [f"img_{i:02d}.png" for i in range(10)]
    a = load_image_folder(root, size=4, seed=5)
    b = load_image_folder(root, size=4, seed=5)
    assert torch.equal(a.test.inputs, b.test.inputs) and torch.equal(a.test.labels, b.test.labels)


def test_missing_empty_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_image_folder(tmp_path / "nowhere")
    file_root = tmp_path / "file.png"
    file_root.write_bytes(b"")
    with pytest.raises(ValueError, match="not a directory"):
        load_image_folder(file_root)
    empty_root = tmp_path / "empty"
    empty_root.mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(empty_root)
    root = _make_folder(tmp_path / "images", per_class=5)
    (root / "yellow").mkdir()
    (root / "yellow" / "readme.md").write_text("no images here")
    with pytest.raises(ValueError, match=r"class folder .*yellow holds no image files"):
        load_image_folder(root)
    (root / "yellow" / "readme.md").unlink()
    (root / "yellow").rmdir()
    broken = root / "red" / "img_99.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ValueError, match=r"cannot read image .*red/img_99\.jpg"):
        load_image_folder(root)


def test_bad_arguments(tmp_path: Path) -> None:
    root = _make_folder(tmp_path / "images", per_class=3)
    with pytest.raises(ValueError, match="channels must be 1"):
        load_image_folder(root, channels=4)
    with pytest.raises(ValueError, match="size"):
        load_image_folder(root, size=-1)
    with pytest.raises(ValueError, match="stratified"):
        load_image_folder(
            root, size=4, val_fraction=0.1, test_fraction=0.1
        )  # 1 val image, 3 classes
    with pytest.raises(ValueError, match="needs data_dir"):
        load_image_source("folder")
