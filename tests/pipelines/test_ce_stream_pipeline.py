"""``ce --dataset folder`` streamed from disk (a folder larger than ``--in_memory_mb``), end to end,
on generated image files: the split, the training, the scoring, resume and bad files."""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from contrastlab.cli import main
from contrastlab.config.image import CEConfig
from contrastlab.data.image_augment import EvalImageTransform
from contrastlab.data.image_folder import list_image_files, load_image_folder, read_images
from contrastlab.data.image_stream_loader import BadFileLog
from contrastlab.data.image_stream_splits import load_streamed_splits, split_listing
from contrastlab.data.splits import LabeledTensors
from contrastlab.models.image_network import build_ce_network
from contrastlab.pipelines import cross_entropy
from contrastlab.pipelines.cross_entropy import streamed_scores
from contrastlab.training.checkpoint import load_checkpoint
from image_files import write_images
from processes import torchrun_contrastlab

FOLDER = [
    *("--dataset", "folder", "--size", "8", "--model", "smallcnn", "--batch_size", "8"),
    *("--epochs", "2", "--no-progress", "--learning_rate", "0.05", "--no-warm"),
    *("--threads", "1", "--eval_batch_size", "5"),
]  # fmt: skip
CE = [*FOLDER, "--in_memory_mb", "0"]  # streamed, however small the folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 readable labelled images of mixed sizes and formats in 3 classes."""
    return write_images(tmp_path_factory.mktemp("ce-stream") / "clean", 45)


@pytest.fixture(scope="module")
def with_corrupt(clean: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``clean`` and one corrupt file."""
    root = tmp_path_factory.mktemp("ce-stream-bad") / "images"
    shutil.copytree(clean, root)
    (root / "dog" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff this is no jpeg")
    return root


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def reference_logits(network: nn.Module, spec: dict, images: torch.Tensor) -> torch.Tensor:
    """Logits of uint8 images at the spec's size, in one batch, in eval mode."""
    network.eval()
    with torch.no_grad():
        return network(EvalImageTransform(spec["size"], spec["mean"], spec["std"])(images))


def top1_percent(checkpoint: dict, split: LabeledTensors) -> float:
    """Top-1 (percent) of the checkpoint's network on an in-memory split, by hand."""
    network = build_ce_network(checkpoint["model_spec"])
    network.load_state_dict(checkpoint["model"])
    logits = reference_logits(network, checkpoint["model_spec"], split.inputs)
    return 100.0 * (logits.argmax(dim=1) == split.labels).double().mean().item()


@pytest.mark.parametrize("seed", [0, 3])
def test_the_split_puts_every_file_where_the_in_memory_loader_puts_its_image(
    clean: Path, seed: int
) -> None:
    splits = split_listing(list_image_files(clean), seed)
    in_memory = load_image_folder(clean, size=8, seed=seed)
    sizes = [len(splits.train), len(splits.val), len(splits.test)]
    assert sum(sizes) == 45 and min(sizes) > 0
    for name in ("train", "val", "test"):
        listed = read_images(getattr(splits, name), 8)  # the split's files, decoded here
        held = getattr(in_memory, name)
        assert torch.equal(listed.inputs, held.inputs) and torch.equal(listed.labels, held.labels)
    assert splits.train.class_names == in_memory.class_names


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_unreadable_file_leaves_both_splits_alike(with_corrupt: Path, seed: int) -> None:
    """--on_bad_file skip: the split is made on the listing either way, then the unreadable file
    leaves its own split only."""
    splits = split_listing(list_image_files(with_corrupt), seed)
    with pytest.warns(UserWarning, match="corrupt"):
        in_memory = load_image_folder(with_corrupt, size=8, seed=seed, on_bad_file="skip")
    for name in ("train", "val", "test"):
        listing = getattr(splits, name)
        has_corrupt = any(path.name == "corrupt.jpg" for path in listing.files)
        with pytest.warns(UserWarning, match="corrupt") if has_corrupt else nullcontext():
            listed = read_images(listing, 8, on_bad_file="skip")
        held = getattr(in_memory, name)
        assert torch.equal(listed.inputs, held.inputs) and torch.equal(listed.labels, held.labels)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_streamed_scores_equal_the_logits_of_the_split_in_memory(
    with_corrupt: Path, split: str
) -> None:
    listing = getattr(split_listing(list_image_files(with_corrupt), 0), split)
    config = CEConfig(dataset="folder", data_folder=str(with_corrupt), size=8, workers=0,
                      eval_batch_size=4, on_bad_file="skip", progress=False)  # fmt: skip
    spec = {"model": "smallcnn", "class_names": listing.class_names, "size": 8,
            "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.3, 0.25]}  # fmt: skip
    torch.manual_seed(0)
    network = build_ce_network(spec)
    transform = EvalImageTransform(8, spec["mean"], spec["std"])
    bad_files = BadFileLog("skip", with_corrupt)
    corrupt = with_corrupt / "dog" / "corrupt.jpg"
    logits, labels = streamed_scores(network, listing, transform, config, bad_files)
    with pytest.warns(UserWarning, match="corrupt") if corrupt in listing.files else nullcontext():
        held = read_images(listing, 8, on_bad_file="skip")  # the readable files, in order
    assert list(bad_files.seen) == ([str(corrupt)] if corrupt in listing.files else [])
    assert torch.equal(labels, held.labels)
    torch.testing.assert_close(logits, reference_logits(network, spec, held.inputs))


def test_streamed_ce_scores_the_best_checkpoint_on_the_split_files(
    clean: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert main(["ce", *CE, "--workers", "1", "--data_folder", str(clean), "--seed", "3",
                 "--out", str(out)]) == 0  # fmt: skip
    result = summary(out)
    assert "skipped_files" not in result
    best = load_checkpoint(out / "best.pth")
    assert best["model_spec"]["streamed"] is True
    assert best["epoch"] == result["best_epoch"] and best["val_top1"] == result["val_top1"]
    # the in-memory loader's split of the same folder and seed, scored here by hand
    splits = load_image_folder(clean, size=8, seed=3)
    assert result["val_top1"] == pytest.approx(top1_percent(best, splits.val))
    assert result["test_top1"] == pytest.approx(top1_percent(best, splits.test))
    assert result["test_top5"] == 100.0  # 3 classes
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    assert all(np.isfinite(record["loss"]) and "val_top1" in record for record in records)


def test_resume_repeats_the_uninterrupted_run(with_corrupt: Path, tmp_path: Path) -> None:
    common = [*CE, "--workers", "0", "--data_folder", str(with_corrupt), "--on_bad_file",
              "skip", "--seed", "1", "--lr_decay_rate", "1"]  # fmt: skip
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    with pytest.warns(UserWarning, match="corrupt"):
        assert main(["ce", *common, "--epochs", "2", "--out", str(straight)]) == 0
    with pytest.warns(UserWarning, match="corrupt"):
        assert main(["ce", *common, "--epochs", "1", "--out", str(resumed)]) == 0
    with pytest.warns(UserWarning, match="corrupt"):
        assert main(["ce", *common, "--epochs", "2", "--out", str(resumed),
                     "--resume", str(resumed / "last.pth")]) == 0  # fmt: skip
    for name in ("last.pth", "best.pth"):
        a, b = (load_checkpoint(run / name)["model"] for run in (straight, resumed))
        assert all(torch.allclose(a[key], b[key], atol=1e-6) for key in a), name
    for key in ("val_top1", "best_epoch", "test_top1", "test_top5"):
        assert summary(straight)[key] == pytest.approx(summary(resumed)[key]), key
    assert summary(straight)["skipped_files"] == [str(with_corrupt / "dog" / "corrupt.jpg")]


def test_bad_files_are_skipped_and_listed_or_stop_the_run(
    with_corrupt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = str(with_corrupt / "dog" / "corrupt.jpg")
    split = split_listing(list_image_files(with_corrupt), 0)
    where = next(name for name in ("train", "val", "test")
                 if corrupt in map(str, getattr(split, name).files))  # fmt: skip
    out = tmp_path / "skip"
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\) .*corrupt\.jpg") as seen:
        assert main(["ce", *CE, "--workers", "0", "--data_folder", str(with_corrupt),
                     "--on_bad_file", "skip", "--out", str(out)]) == 0  # fmt: skip
    assert sum("corrupt.jpg" in str(w.message) for w in seen) == 1, where  # warned once
    assert summary(out)["skipped_files"] == [corrupt]
    capsys.readouterr()
    code = main(["ce", *CE, "--workers", "0", "--data_folder", str(with_corrupt),
                 "--out", str(tmp_path / "error")])  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1, error
    assert error.startswith("contrastlab ce: error: cannot read image") and corrupt in error


@pytest.mark.parametrize("split", ["val", "test"])
def test_an_unreadable_evaluation_file_stops_the_run_before_it_writes(
    with_corrupt: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    split: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--on_bad_file error: a corrupt val or test file is found before training, not after."""
    corrupt = with_corrupt / "dog" / "corrupt.jpg"
    listing = list_image_files(with_corrupt)
    seed = next(s for s in range(100) if corrupt in getattr(split_listing(listing, s), split).files)
    out = tmp_path / "error"

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the evaluation files were checked")

    monkeypatch.setattr(cross_entropy, "fit", no_training)
    code = main(["ce", *CE, "--workers", "0", "--data_folder", str(with_corrupt),
                 "--seed", str(seed), "--out", str(out)])  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1, error
    assert f"cannot read image {corrupt}" in error and "1 unreadable file(s) among the" in error
    assert not out.exists()


@pytest.mark.parametrize(
    "option", [("--workers", "2"), ("--in_memory_mb", "0"), ("--on_bad_file", "skip")]
)
def test_folder_options_are_refused_for_other_data_sets(
    option: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refused"
    assert main(["ce", "--dataset", "digits", *option, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"contrastlab ce: error: {option[0]} apply to --dataset folder only"
    assert not out.exists()


def test_a_folder_that_fits_is_held_in_memory(clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["ce", *FOLDER, "--data_folder", str(clean), "--out", str(out)]) == 0
    assert load_checkpoint(out / "last.pth")["model_spec"]["streamed"] is False


@pytest.mark.distributed
@pytest.mark.slow
def test_two_processes_stream_ce(clean: Path, tmp_path: Path) -> None:
    """Under torchrun each rank streams its own shard of the train split and validates its own
    share of the val split (the counts and the unreadable files gathered, rank 0's BatchNorm
    statistics used by all); rank 0 scores the test split, and one set of outputs is written.
    A file of rank 1's share of the val split is made unreadable."""
    root = tmp_path / "images"
    shutil.copytree(clean, root)
    seed = 0
    corrupt = split_listing(list_image_files(root), seed).val.files[1]  # rank 1 scores [1::2]
    corrupt.write_bytes(b"\xff\xd8\xff this is no jpeg")
    out = tmp_path / "run"
    done = torchrun_contrastlab(
        "ce", *CE, "--workers", "0", "--device", "cpu", "--data_folder", str(root),
        "--on_bad_file", "skip", "--seed", str(seed), "--save_freq", "1", "--out", str(out),
    )  # fmt: skip
    assert done.stdout.count('"method": "ce"') == 1
    result = summary(out)
    assert result["skipped_files"] == [str(corrupt)]
    with pytest.warns(UserWarning, match=corrupt.name):
        splits = load_image_folder(root, size=8, seed=seed, on_bad_file="skip")
    best = load_checkpoint(out / "best.pth")
    assert result["test_top1"] == pytest.approx(top1_percent(best, splits.test))
    assert result["val_top1"] == pytest.approx(top1_percent(best, splits.val))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for record in records:  # each epoch's figure is that of the weights its checkpoint holds
        epoch = load_checkpoint(out / f"ckpt_epoch_{record['epoch']}.pth")
        assert record["val_top1"] == pytest.approx(top1_percent(epoch, splits.val))
    assert len(load_checkpoint(out / "last.pth")["rng_per_rank"]) == 2


def corrupt_pairs(root: Path) -> Path:
    """2 classes of 5 readable images and 1 corrupt file each (12 files)."""
    write_images(root, 10, classes=("cat", "dog"))
    for name in ("cat", "dog"):
        (root / name / "zz-corrupt.jpg").write_bytes(b"\xff\xd8\xff this is no jpeg")
    return root


@pytest.mark.parametrize(("split", "name"), [("val", "validation"), ("test", "test")])
def test_a_split_without_a_readable_file_stops_both_paths_before_training(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str], split: str, name: str
) -> None:
    root = corrupt_pairs(tmp_path / "images")
    listing = list_image_files(root)
    seed = next(
        s for s in range(2000)
        if all(p.name == "zz-corrupt.jpg" for p in getattr(split_listing(listing, s), split).files)
    )  # fmt: skip
    expected = f"none of the 2 {name} image files"
    with pytest.raises(ValueError, match=expected), pytest.warns(UserWarning, match="corrupt"):
        load_image_folder(root, size=8, seed=seed, on_bad_file="skip")
    with pytest.raises(ValueError, match=expected):
        load_streamed_splits(listing, 8, seed, 0, "skip", progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the split was checked")

    monkeypatch.setattr(cross_entropy, "fit", no_training)
    for memory in ("0", "1024"):  # streamed, then in memory
        capsys.readouterr()
        code = main(["ce", *FOLDER, "--in_memory_mb", memory, "--data_folder", str(root),
                     "--on_bad_file", "skip", "--seed", str(seed),
                     "--out", str(tmp_path / f"run-{memory}")])  # fmt: skip
        error = capsys.readouterr().err.strip()
        assert code == 2 and len(error.splitlines()) == 1 and expected in error, error
