"""Every image command end to end on tiny configurations (digits at 8x8, a small CNN)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from contrastlab.cli import main
from contrastlab.training.checkpoint import load_checkpoint

TRAIN = [
    *("--dataset", "digits", "--model", "smallcnn", "--size", "8", "--batch_size", "128"),
    *("--learning_rate", "0.05", "--no-warm", "--no-progress"),
]  # fmt: skip
TINY = [*TRAIN, "--knn_every", "1", "--knn_k", "20"]  # pretrain


def run(*args: str) -> int:
    return main([*args])


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("supcon")
    assert (
        run(
            "pretrain",
            *TINY,
            "--epochs",
            "2",
            "--save_freq",
            "1",
            "--out",
            str(run_dir),
            "--linear",
            "--linear_epochs",
            "5",
        )
        == 0
    )
    return run_dir


def test_pretrain_writes_a_complete_run_directory(pretrained: Path):
    names = {p.name for p in pretrained.iterdir()}
    assert {
        "config.yaml",
        "metrics.jsonl",
        "summary.json",
        "last.pth",
        "ckpt_epoch_1.pth",
        "ckpt_epoch_2.pth",
        "training_curves.png",
        "tsne_test.png",
        "tensorboard",
    } <= names
    result = summary(pretrained)
    assert {"test_top1", "test_top5", "val_top1", "knn_val_top1", "final_loss"} <= set(result)
    assert result["test_top1"] > 50  # 2 tiny epochs are far above chance (10%)
    assert_png(pretrained / "tsne_test.png")
    assert_png(pretrained / "training_curves.png")
    checkpoint = load_checkpoint(pretrained / "last.pth")
    assert checkpoint["model_spec"]["model"] == "smallcnn"
    assert checkpoint["config"]["method"] == "supcon"


def test_linear_knn_and_plot_on_a_checkpoint(pretrained: Path, tmp_path: Path, capsys):
    out = tmp_path / "linear"
    checkpoint = ["--ckpt", str(pretrained / "last.pth"), "--no-progress"]
    assert run("linear", *checkpoint, "--out", str(out), "--epochs", "3") == 0
    assert {"test_top1", "test_top5", "val_top1", "provenance"} <= set(summary(out))
    assert run("knn", *checkpoint, "--knn_k", "20") == 0
    assert "knn_test_top1" in capsys.readouterr().out
    # The checkpoint decides the network: a pretraining option is refused, not ignored.
    assert run("knn", *checkpoint, "--model", "resnet18") == 2
    assert "unrecognized arguments: --model resnet18" in capsys.readouterr().err
    (pretrained / "training_curves.png").unlink()
    assert run("plot", str(pretrained)) == 0
    assert_png(pretrained / "training_curves.png")


def test_resume_continues_to_the_requested_epoch(pretrained: Path, tmp_path: Path):
    out = tmp_path / "resumed"
    assert (
        run(
            "pretrain",
            *TINY,
            "--epochs",
            "3",
            "--knn_every",
            "0",
            "--out",
            str(out),
            "--resume",
            str(pretrained / "ckpt_epoch_2.pth"),
        )
        == 0
    )
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert load_checkpoint(out / "last.pth")["epoch"] == 3


@pytest.mark.parametrize("method", ["simclr", "ce"])
def test_simclr_and_cross_entropy(method: str, tmp_path: Path):
    command = ["ce"] if method == "ce" else ["pretrain", "--method", "simclr", "--temp", "0.5"]
    options = TINY if command[0] == "pretrain" else TRAIN
    assert run(*command, *options, "--epochs", "3", "--out", str(tmp_path)) == 0
    result = summary(tmp_path)
    if method == "ce":
        assert {"test_top1", "test_top5", "val_top1"} <= set(result)
        assert result["test_top1"] > 30  # chance is 10%
    else:
        metrics = (tmp_path / "metrics.jsonl").read_text().splitlines()
        losses = [json.loads(line)["loss"] for line in metrics]
        assert losses[-1] < losses[0]
        assert result["knn_val_top1"] > 30
    assert (tmp_path / "last.pth").is_file()


def test_linear_scores_on_the_checkpoints_own_split(pretrained, tmp_path, monkeypatch):
    import contrastlab.evaluation.checkpoint_evaluation as evaluation

    seeds = []
    original = evaluation.load_image_source

    def recording(name, **kwargs):
        seeds.append((name, kwargs["seed"], kwargs["size"]))
        return original(name, **kwargs)

    monkeypatch.setattr(evaluation, "load_image_source", recording)
    checkpoint = ["--ckpt", str(pretrained / "last.pth"), "--out", str(tmp_path)]
    assert run("linear", "--seed", "5", *checkpoint, "--epochs", "1", "--no-progress") == 0
    assert seeds == [("digits", 0, 8)]  # the checkpoint's split and size, not --seed 5


def test_ce_resume_keeps_the_best_epoch(tmp_path: Path):
    assert run("ce", *TRAIN, "--epochs", "2", "--out", str(tmp_path)) == 0
    first = summary(tmp_path)
    resume = ["--resume", str(tmp_path / "last.pth")]
    assert run("ce", *TRAIN, "--epochs", "3", "--out", str(tmp_path), *resume) == 0
    resumed = summary(tmp_path)
    assert resumed["best_epoch"] in (1, 2, 3) and resumed["val_top1"] >= first["val_top1"]
    best = load_checkpoint(tmp_path / "best.pth")
    assert best["epoch"] == resumed["best_epoch"] and best["val_top1"] == resumed["val_top1"]


def test_yaml_scientific_notation_and_type_errors(tmp_path: Path, capsys):
    import argparse

    from contrastlab.cli.options import config_from_args
    from contrastlab.config.image import PretrainConfig

    config = tmp_path / "run.yaml"
    config.write_text("weight_decay: 1e-4\ntemp: 5e-2\nepochs: 1\n")
    resolved = config_from_args(PretrainConfig, argparse.Namespace(config=str(config)))
    assert resolved.weight_decay == 1e-4 and resolved.temp == 0.05
    config.write_text("epochs: many\n")
    assert run("pretrain", "--config", str(config), "--out", str(tmp_path / "x")) == 2
    assert "--epochs expects integer, got 'many'" in capsys.readouterr().err


def test_bad_input_gives_clear_errors_and_keeps_checkpoints(
    pretrained: Path, tmp_path: Path, capsys
):
    before = (pretrained / "last.pth").read_bytes()
    assert run("pretrain", *TINY, "--method", "byol", "--out", str(tmp_path / "a")) == 2
    assert "--method must be one of supcon, simclr, moco; got 'byol'" in capsys.readouterr().err
    assert (
        run(
            "pretrain",
            *TINY,
            "--model",
            "resnet18",
            "--size",
            "4",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "b"),
        )
        == 2
    )
    assert "do not fit the model" in capsys.readouterr().err
    assert (
        run(
            "pretrain",
            *TINY,
            "--dataset",
            "cifar10",
            "--data_folder",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "c"),
        )
        == 2
    )
    assert "download" in capsys.readouterr().err
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(before[: len(before) // 3])
    assert run("linear", "--ckpt", str(truncated), "--out", str(tmp_path / "d")) == 2
    assert "truncated" in capsys.readouterr().err
    config = tmp_path / "typo.yaml"
    config.write_text("learning_rat: 0.1\n")
    assert run("pretrain", "--config", str(config), "--out", str(tmp_path / "e")) == 2
    assert (
        "unknown option(s) --learning_rat (did you mean --learning_rate?)"
        in capsys.readouterr().err
    )
    refused = tmp_path / "f"
    assert run("pretrain", *TINY, "--linear", "--linear_epochs", "0", "--out", str(refused)) == 2
    assert "--linear_epochs must be in [1, 100000], got 0" in capsys.readouterr().err
    assert not refused.exists()  # refused before any training
    assert (pretrained / "last.pth").read_bytes() == before


def test_val_size_is_for_cifar_only(tmp_path: Path, capsys):
    assert run("pretrain", *TINY, "--val_size", "0", "--out", str(tmp_path)) == 2
    assert "--val_size applies to cifar10 and cifar100" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_supcontrast_checkpoint_can_be_evaluated(tmp_path: Path):
    """A checkpoint as SupContrast writes it (opt Namespace, DataParallel-wrapped encoder)."""
    import argparse

    from contrastlab.models.supcon_resnet import SupConResNet

    model = SupConResNet("resnet18", in_channels=3)
    state = {
        f"encoder.module.{k[len('encoder.') :]}" if k.startswith("encoder.") else k: v
        for k, v in model.state_dict().items()
    }
    opt = argparse.Namespace(model="resnet18", head="mlp", feat_dim=128, dataset="cifar10")
    torch.save({"opt": opt, "model": state, "optimizer": {}, "epoch": 1}, tmp_path / "last.pth")
    folder = tmp_path / "images"
    generator = torch.Generator().manual_seed(0)
    for label in ("cat", "dog"):
        (folder / label).mkdir(parents=True)
        for index in range(12):
            pixels = torch.randint(0, 255, (8, 8, 3), generator=generator, dtype=torch.uint8)
            Image.fromarray(pixels.numpy()).save(folder / label / f"{index}.png")
    from contrastlab.evaluation.checkpoint_evaluation import load_pretrained_image_network

    loaded, spec, options = load_pretrained_image_network(tmp_path / "last.pth", "cpu")
    assert options["model"] == "resnet18"  # SupContrast's opt, as a dict
    images = torch.randn(3, 3, 8, 8)
    model.eval()
    torch.testing.assert_close(loaded.encoder(images), model.encoder(images))
    assert spec["mean"] == [0.4914, 0.4822, 0.4465]  # SupContrast's CIFAR-10 constants
    out = tmp_path / "linear"
    folder_options = ["--dataset", "folder", "--data_folder", str(folder), "--size", "8"]
    checkpoint = ["--ckpt", str(tmp_path / "last.pth"), "--out", str(out)]
    assert run("linear", *folder_options, *checkpoint, "--epochs", "2", "--no-progress") == 0
    assert summary(out)["linear_best_epoch"] in (1, 2)  # --epochs is the classifier's
