"""CIFAR readers on tiny archives written in the official format, download and MD5 checks."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab.cli import main
from contrastlab.data import cifar
from contrastlab.data.cifar import load_cifar_splits, read_cifar_batch
from contrastlab.data.image_sources import load_image_source

PER_BATCH = 20  # 2 images per class in every CIFAR-10 batch
CIFAR10_NAMES = [f"class{i}" for i in range(10)]


def _batch(rng: np.random.Generator, n: int, n_classes: int, label_key: str) -> dict:
    return {
        "batch_label": "synthetic",
        label_key: [int(i % n_classes) for i in range(n)],
        "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        "filenames": [f"img{i}.png" for i in range(n)],
    }


def _dump(path: Path, content: object, protocol: int = 2) -> None:
    path.write_bytes(pickle.dumps(content, protocol=protocol))


def _write_cifar10(root: Path, seed: int = 0) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = [_batch(rng, PER_BATCH, 10, "labels") for _ in range(5)]
    for index, batch in enumerate(batches, start=1):
        _dump(folder / f"data_batch_{index}", batch, protocol=2 if index % 2 else 4)
    test = _batch(rng, 10, 10, "labels")
    _dump(folder / "test_batch", test)
    _dump(folder / "batches.meta", {"label_names": CIFAR10_NAMES, "num_cases_per_batch": PER_BATCH})
    return batches, test


def _write_cifar100(root: Path) -> tuple[dict, dict]:
    rng = np.random.default_rng(1)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    train = _batch(rng, 300, 100, "fine_labels")
    train["coarse_labels"] = [label // 5 for label in train["fine_labels"]]
    test = _batch(rng, 100, 100, "fine_labels")
    _dump(folder / "train", train)
    _dump(folder / "test", test)
    _dump(
        folder / "meta",
        {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": []},
    )
    return train, test


def _make_archive(source_root: Path, folder: str, archive: Path) -> str:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_root / folder, arcname=folder)
    return hashlib.md5(archive.read_bytes()).hexdigest()


def _keys(images: torch.Tensor, labels: torch.Tensor) -> Counter:
    return Counter(
        (img.numpy().tobytes(), int(lab)) for img, lab in zip(images, labels, strict=True)
    )


def test_round_trip_pixels_labels_and_channel_order(tmp_path: Path) -> None:
    batches, test = _write_cifar10(tmp_path)
    splits = load_cifar_splits("cifar10", tmp_path, val_size=0)
    data = np.concatenate([b["data"] for b in batches])
    labels = np.concatenate([b["labels"] for b in batches])
    assert (
        splits.train.inputs.shape == (100, 3, 32, 32) and splits.train.inputs.dtype == torch.uint8
    )
    assert splits.train.labels.dtype == torch.int64
    assert np.array_equal(splits.train.labels.numpy(), labels)
    # Row layout: 1024 red, 1024 green, 1024 blue values, each plane row-major 32x32.
    images = splits.train.inputs.numpy()
    for row, channel, y, x in ((0, 0, 0, 0), (3, 1, 5, 7), (57, 2, 31, 30), (99, 2, 0, 31)):
        assert images[row, channel, y, x] == data[row, channel * 1024 + y * 32 + x]
    assert np.array_equal(images, data.reshape(-1, 3, 32, 32))
    assert np.array_equal(splits.test.inputs.numpy(), test["data"].reshape(-1, 3, 32, 32))
    assert np.array_equal(splits.test.labels.numpy(), test["labels"])
    assert splits.class_names == CIFAR10_NAMES
    meta = splits.metadata
    assert (meta["source"], meta["image_size"], meta["in_channels"]) == ("cifar10", 32, 3)
    unit = splits.train.inputs.double() / 255
    assert meta["mean"] == pytest.approx(unit.mean(dim=(0, 2, 3)).tolist())
    assert meta["std"] == pytest.approx(unit.std(dim=(0, 2, 3), unbiased=False).tolist())


def test_validation_is_a_stratified_part_of_the_training_set(tmp_path: Path) -> None:
    batches, _ = _write_cifar10(tmp_path)
    splits = load_cifar_splits("cifar10", tmp_path, val_size=20, seed=3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 10)
    assert np.array_equal(np.bincount(splits.val.labels.numpy(), minlength=10), np.full(10, 2))
    official = Counter()
    for batch in batches:
        official += _keys(
            torch.from_numpy(batch["data"].reshape(-1, 3, 32, 32)), torch.tensor(batch["labels"])
        )
    ours = _keys(splits.train.inputs, splits.train.labels) + _keys(
        splits.val.inputs, splits.val.labels
    )
    assert ours == official
    again = load_cifar_splits("cifar10", tmp_path, val_size=20, seed=3)
    assert torch.equal(again.val.inputs, splits.val.inputs)
    assert not torch.equal(
        load_cifar_splits("cifar10", tmp_path, val_size=20, seed=4).val.inputs, splits.val.inputs
    )


def test_cifar100_uses_fine_labels_and_resizes(tmp_path: Path) -> None:
    _, test = _write_cifar100(tmp_path)
    splits = load_image_source("cifar100", data_dir=tmp_path, size=16, val_size=100)
    assert splits.num_classes == 100 and splits.class_names[7] == "fine7"
    assert (len(splits.train), len(splits.val), len(splits.test)) == (200, 100, 100)
    assert splits.train.inputs.shape[1:] == (3, 16, 16) and splits.metadata["image_size"] == 16
    assert np.array_equal(splits.test.labels.numpy(), test["fine_labels"])
    assert sorted(splits.val.labels.tolist()) == list(range(100))


def test_python2_style_pickles_with_numpy_core_are_read(tmp_path: Path) -> None:
    # The official files were written by Python 2 with numpy 1.x: arrays are rebuilt through
    # numpy.core.multiarray._reconstruct.
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    raw = pickle.dumps({"data": data, "labels": [1, 0]}, protocol=2)
    raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in raw
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    images, labels = read_cifar_batch(path, "labels")
    assert np.array_equal(images.numpy(), data.reshape(2, 3, 32, 32))
    assert labels.tolist() == [1, 0]


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps({"data": _Exploit(), "labels": []}), "not allowed"),
        (b"\x80\x04garbage", "not a readable CIFAR pickle"),
        (pickle.dumps([1, 2, 3]), "should hold a dict"),
        (pickle.dumps({"labels": [0]}), "no 'data' entry"),
        (pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}), "3072 values"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}), "uint8"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}), "2 integer labels"),
    ],
)
def test_bad_batch_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_cifar_batch(path, "labels")
    assert "data_batch_1" in str(info.value)


def test_missing_and_inconsistent_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*download=True.*--download"):
        load_cifar_splits("cifar10", tmp_path)
    _write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar_splits("cifar10", tmp_path, val_size=0)
    _dump(folder / "data_batch_3", {"data": np.zeros((1, 3072), np.uint8), "labels": [10]})
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        load_cifar_splits("cifar10", tmp_path, val_size=0)
    with pytest.raises(ValueError, match="name must be one of"):
        load_cifar_splits("cifar20", tmp_path)
    _dump(folder / "data_batch_3", {"data": np.zeros((1, 3072), np.uint8), "labels": [9]})
    with pytest.raises(ValueError, match="cannot hold out"):
        load_cifar_splits("cifar10", tmp_path, val_size=10_000)


def test_image_config_val_size_chooses_the_validation_split(tmp_path: Path) -> None:
    from contrastlab.data.image_sources import load_image_source

    _write_cifar10(tmp_path)

    def sizes(**options: object) -> tuple[int, int, int]:
        data = load_image_source("cifar10", data_dir=tmp_path, **options)
        return len(data.train), len(data.val), len(data.test)

    assert sizes(val_size=0) == (100, 0, 10)
    assert sizes(val_size=20) == (80, 20, 10)
    with pytest.raises(ValueError, match="cannot hold out 5000 of 100"):
        sizes()  # the loader's default


def test_image_commands_with_val_size_zero_choose_nothing_on_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_cifar10(tmp_path / "data")
    data = ["--dataset", "cifar10", "--data_folder", str(tmp_path / "data"), "--val_size", "0"]
    common = [*data, "--no-progress", "--device", "cpu"]
    training = [*common, "--model", "smallcnn", "--batch_size", "50"]
    pretrained = tmp_path / "supcon"
    linear = ["--linear", "--linear_epochs", "2", "--knn_every", "1"]
    assert main(["pretrain", *training, "--epochs", "1", *linear, "--out", str(pretrained)]) == 0
    summary = json.loads((pretrained / "summary.json").read_text())
    assert summary["val_top1"] is None and summary["linear_best_epoch"] == 2  # the last epoch
    assert 0 <= summary["test_top1"] <= 100
    assert "knn_val_top1" not in summary  # the monitor never falls back on the test split
    metrics = [json.loads(line) for line in (pretrained / "metrics.jsonl").read_text().splitlines()]
    assert all("knn_val_top1" not in record for record in metrics)
    history = (pretrained / "linear_metrics.jsonl").read_text().splitlines()
    assert [sorted(json.loads(line)) for line in history] == [["epoch", "train_loss"]] * 2

    capsys.readouterr()
    checkpoint = ["--ckpt", str(pretrained / "last.pth")]
    assert main(["knn", *common, *checkpoint]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["knn_test_top1"]
    with_val = [option if option != "0" else "20" for option in common]
    with pytest.warns(UserWarning, match="which held 0 training images out: another validation"):
        assert main(["knn", *with_val, *checkpoint]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["knn_val_top1", "knn_test_top1"]

    ce = tmp_path / "ce"
    assert main(["ce", *training, "--epochs", "2", "--out", str(ce)]) == 0
    summary = json.loads((ce / "summary.json").read_text())
    assert summary["val_top1"] is None and summary["best_epoch"] == 2
    assert not (ce / "best.pth").exists()
    assert all("val_top1" not in json.loads(line) for line in (ce / "metrics.jsonl").open())


def test_linear_and_knn_hold_out_what_the_checkpoint_held_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    _write_cifar10(tmp_path / "data")
    common = [
        *("--dataset", "cifar10", "--data_folder", str(tmp_path / "data")),
        *("--no-progress", "--device", "cpu"),
    ]  # fmt: skip
    pretrain = [
        *common, "--model", "smallcnn", "--batch_size", "40", "--epochs", "1", "--knn_every", "0",
        "--out", str(tmp_path / "supcon"), "--overwrite",
    ]  # fmt: skip
    assert main(["pretrain", *pretrain, "--val_size", "0"]) == 0
    checkpoint = ["--ckpt", str(tmp_path / "supcon" / "last.pth")]

    # No --val_size: the checkpoint's 0, not the loader's 5000 (which 100 images cannot give).
    linear = [*common, *checkpoint, "--epochs", "2", "--out", str(tmp_path / "linear")]
    linear.append("--overwrite")
    assert main(["linear", *linear]) == 0
    summary = json.loads((tmp_path / "linear" / "summary.json").read_text())
    assert summary["val_top1"] is None and summary["linear_best_epoch"] == 2
    capsys.readouterr()
    assert main(["knn", *common, *checkpoint]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["knn_test_top1"]
    assert main(["knn", *common, *checkpoint, "--val_size", "0"]) == 0  # the same: no warning
    assert not [w for w in recwarn if "--val_size" in str(w.message)]

    # A checkpoint that held 20 out: evaluated on those 20, or warned about another split.
    assert main(["pretrain", *pretrain, "--val_size", "20"]) == 0
    capsys.readouterr()
    assert main(["knn", *common, *checkpoint]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["knn_val_top1", "knn_test_top1"]
    assert main(["linear", *linear]) == 0
    assert json.loads((tmp_path / "linear" / "summary.json").read_text())["val_top1"] is not None
    assert not [w for w in recwarn if "--val_size" in str(w.message)]
    capsys.readouterr()
    with pytest.warns(UserWarning, match="which held 20 training images out: no validation split"):
        assert main(["knn", *common, *checkpoint, "--val_size", "0"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["knn_test_top1"]


@pytest.fixture
def served_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CIFAR-10 archive behind a file:// URL; the archive spec points at it."""
    server = tmp_path / "server"
    _write_cifar10(server / "src")
    archive = server / "cifar-10-python.tar.gz"
    md5 = _make_archive(server / "src", "cifar-10-batches-py", archive)
    spec = dataclasses.replace(cifar.CIFAR_ARCHIVES["cifar10"], url=archive.as_uri(), md5=md5)
    monkeypatch.setitem(cifar.CIFAR_ARCHIVES, "cifar10", spec)
    return archive


def test_download_verifies_and_extracts(tmp_path: Path, served_archive: Path) -> None:
    data_dir = tmp_path / "data"
    splits = load_cifar_splits("cifar10", data_dir, download=True, val_size=10)
    assert len(splits.train) + len(splits.val) == 100
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
    ]
    # The extracted folder is reused; nothing is fetched again.
    served_archive.unlink()
    assert len(load_cifar_splits("cifar10", data_dir, download=True, val_size=10).test) == 10


def test_archive_copied_by_hand_is_extracted_without_download(
    tmp_path: Path, served_archive: Path
) -> None:
    data_dir = tmp_path / "offline"
    data_dir.mkdir()
    (data_dir / served_archive.name).write_bytes(served_archive.read_bytes())
    assert len(load_cifar_splits("cifar10", data_dir, download=False, val_size=0).train) == 100


def test_wrong_md5_leaves_nothing_behind(
    tmp_path: Path, served_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dataclasses.replace(cifar.CIFAR_ARCHIVES["cifar10"], md5="0" * 32)
    monkeypatch.setitem(cifar.CIFAR_ARCHIVES, "cifar10", spec)
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match="MD5"):
        load_cifar_splits("cifar10", data_dir, download=True)
    assert list(data_dir.iterdir()) == []
    # An archive already there with the wrong digest is refused as well.
    (data_dir / served_archive.name).write_bytes(served_archive.read_bytes())
    with pytest.raises(ValueError, match="delete it"):
        load_cifar_splits("cifar10", data_dir)
    assert [p.name for p in data_dir.iterdir()] == [served_archive.name]


def test_truncated_archive_is_a_clear_error(
    tmp_path: Path, served_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truncated = served_archive.read_bytes()[: served_archive.stat().st_size // 2]
    served_archive.write_bytes(truncated)
    spec = dataclasses.replace(
        cifar.CIFAR_ARCHIVES["cifar10"], md5=hashlib.md5(truncated).hexdigest()
    )
    monkeypatch.setitem(cifar.CIFAR_ARCHIVES, "cifar10", spec)
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_cifar_splits("cifar10", data_dir, download=True)
    assert [p.name for p in data_dir.iterdir()] == [
        "cifar-10-python.tar.gz"
    ]  # no folder, no staging


def _archive_with(
    tmp_path: Path, name: str, payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> Path:
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    spec = dataclasses.replace(
        cifar.CIFAR_ARCHIVES["cifar10"],
        url=archive.as_uri(),
        md5=hashlib.md5(archive.read_bytes()).hexdigest(),
    )
    monkeypatch.setitem(cifar.CIFAR_ARCHIVES, "cifar10", spec)
    data_dir = tmp_path / "data"
    return data_dir


def test_archive_without_the_folder_or_with_unsafe_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = _archive_with(tmp_path, "something/else.txt", b"x", monkeypatch)
    with pytest.raises(ValueError, match="does not contain the folder cifar-10-batches-py"):
        load_cifar_splits("cifar10", data_dir, download=True)
    assert not (data_dir / "cifar-10-batches-py").exists()
    (data_dir / "cifar-10-python.tar.gz").unlink()
    data_dir = _archive_with(tmp_path, "../escape.txt", b"x", monkeypatch)
    with pytest.raises(ValueError, match="unexpected entry"):
        load_cifar_splits("cifar10", data_dir, download=True)
    assert not (tmp_path / "escape.txt").exists()
    assert [p.name for p in data_dir.iterdir()] == ["cifar-10-python.tar.gz"]


def test_unreachable_url_is_a_connection_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dataclasses.replace(
        cifar.CIFAR_ARCHIVES["cifar10"], url=(tmp_path / "missing.tar.gz").as_uri()
    )
    monkeypatch.setitem(cifar.CIFAR_ARCHIVES, "cifar10", spec)
    with pytest.raises(ConnectionError, match="could not download"):
        load_cifar_splits("cifar10", tmp_path / "data", download=True)
    assert list((tmp_path / "data").iterdir()) == []


def test_official_constants() -> None:
    assert cifar.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar.CIFAR100_MD5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert cifar.CIFAR_ARCHIVES["cifar10"].url.endswith("/cifar-10-python.tar.gz")
    assert cifar.CIFAR_ARCHIVES["cifar100"].url.endswith("/cifar-100-python.tar.gz")
