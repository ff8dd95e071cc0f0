"""``contrastlab ucr``: ``--iters``, the command end to end with ``--method ts2vec`` on a tiny .ts
set written here (always runs; its pooling chosen by cross-validation or fixed), and with SimCLR
on a bundled UCR set (skipped without the optional aeon extra)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from contrastlab.cli import main
from contrastlab.config.signal import TS2VEC_DEFAULTS, UCRConfig
from contrastlab.data.ts_file import write_ts_file
from contrastlab.evaluation.svm import HARD_MARGIN_C
from contrastlab.models.pyramid_pooling import temporal_pyramid_max
from contrastlab.pipelines.ucr import full_series_max, run_ucr, training_epochs
from contrastlab.training.checkpoint import load_checkpoint


def without_provenance(summary: dict) -> dict:
    """What the command prints: the summary without its provenance block."""
    return {key: value for key, value in summary.items() if key != "provenance"}


def test_ucr_command_on_italy_power_demand(tmp_path: Path, capsys):
    pytest.importorskip("aeon")
    run_dir = tmp_path / "ucr"
    args = ["ucr", "--dataset", "ItalyPowerDemand", "--epochs", "3", "--probe_epochs", "5"]
    assert main([*args, "--no-tsne", "--no-progress", "--out", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert json.loads(capsys.readouterr().out) == without_provenance(summary)
    assert summary["series"] == {
        "official_train": 67, "test": 1029, "length": 24, "min_length": 24, "classes": 2,
    }  # fmt: skip
    assert 50 <= summary["svm"]["test_top1"] <= 100  # even 3 epochs beat chance on this set
    assert 0 <= summary["linear_probe"]["test_top1"] <= 100
    assert (run_dir / "last.pth").is_file() and (run_dir / "training_curves.png").is_file()


def test_iters_set_the_epochs():
    assert training_epochs(UCRConfig(epochs=7), 36) == 7  # --iters 0: --epochs as given
    # 36 series in batches of 8: 4 full batches per epoch (the partial one is dropped).
    assert training_epochs(UCRConfig(iters=200, batch_size=8), 36) == 50
    assert training_epochs(UCRConfig(iters=10, batch_size=8), 36) == 3
    assert training_epochs(UCRConfig(iters=5, batch_size=64), 36) == 5  # one batch of all
    with pytest.raises(ValueError, match=r"--iters must be in \[0, "):
        UCRConfig(iters=-1).validate()
    with pytest.raises(ValueError, match="--method ts2vec needs --model ts2vec"):
        UCRConfig(method="ts2vec", model="resnet1d").validate()
    assert UCRConfig(method="ts2vec").backbone == "ts2vec"
    assert UCRConfig().backbone == "resnet1d"


def write_tiny_set(folder: Path, position_matters: bool = False) -> None:
    """Two classes told apart by frequency (random phases), or with ``position_matters`` by the
    half that holds a burst: 12 training and 8 test series of 24 steps."""
    rng = np.random.default_rng(0)
    times = np.linspace(0, 2 * np.pi, 24)
    folder.mkdir()
    for split, count in (("TRAIN", 12), ("TEST", 8)):
        labels = np.arange(count) % 2
        if position_matters:
            series = 0.1 * rng.standard_normal((count, 1, 24))
            for index, label in enumerate(labels):
                start = 12 * label + rng.integers(0, 8)
                series[index, 0, start : start + 4] += 2.0
        else:
            phases = rng.uniform(0, 2 * np.pi, size=(count, 1, 1))
            series = np.sin((1 + 2 * labels[:, None, None]) * times + phases)
        write_ts_file(folder / f"Tiny_{split}.ts", series, [f"c{v}" for v in labels], "Tiny")


def test_ucr_command_with_ts2vec_on_a_tiny_set(tmp_path: Path, capsys):
    write_tiny_set(tmp_path / "data")
    run_dir = tmp_path / "run"
    args = ["ucr", "--dataset", "Tiny", "--data", str(tmp_path / "data"), "--method", "ts2vec"]
    small = ["--iters", "3", "--ts2vec_depth", "2", "--ts2vec_hidden_dim", "8",
             "--ts2vec_repr_dim", "16", "--ts2vec_average", "--probe_epochs", "3",
             "--ts2vec_pyramid", "1,2,4"]  # fmt: skip
    assert main([*args, *small, "--no-tsne", "--no-progress", "--out", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert json.loads(capsys.readouterr().out) == without_provenance(summary)
    assert summary["method"] == "ts2vec" and summary["model"] == "ts2vec"
    assert summary["series"] == {
        "official_train": 12, "test": 8, "length": 24, "min_length": 24, "classes": 2,
    }  # fmt: skip
    assert summary["normalization"] == "none"
    assert summary["epochs"] == 3  # 12 series in batches of 8: one step per epoch
    assert 0 <= summary["svm"]["test_top1"] <= 100 and summary["svm"]["C"] == HARD_MARGIN_C
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    given = ("iters", "ts2vec_pyramid")
    recipe = {key: config[key] for key in TS2VEC_DEFAULTS if key not in given}
    assert recipe == {key: v for key, v in TS2VEC_DEFAULTS.items() if key not in given}
    assert config["iters"] == 3 and config["ts2vec_pooling"] == "cv"  # given options win
    checkpoint = load_checkpoint(run_dir / "last.pth")
    assert int(checkpoint["method"]["n_averaged"]) == 3  # --ts2vec_average: one per step
    # Resumed with more steps: --iters resolves to 5 epochs, compared with the 3 trained.
    more = [*small[:1], "5", *small[2:]]  # --iters 5
    resume = ["--resume", str(run_dir / "last.pth"), "--no-tsne", "--no-progress"]
    assert main([*args, *more, *resume]) == 0
    assert load_checkpoint(run_dir / "last.pth")["epoch"] == 5
    assert checkpoint["model_spec"]["backbone_options"] == {
        "hidden_dim": 8, "repr_dim": 16, "depth": 2, "pyramid": [1, 2, 4],
    }  # fmt: skip
    # The recipe's --ts2vec_pooling cv: one of the pyramid's prefixes, each cross-validated.
    assert list(summary["pyramid_cv_accuracy"]) == ["1", "1,2", "1,2,4"]
    scores = summary["pyramid_cv_accuracy"]
    first_best = next(key for key, score in scores.items() if score == max(scores.values()))
    assert ",".join(map(str, summary["pyramid"])) == first_best  # a tie keeps fewer levels
    assert ("svm_full_series_max" in summary) == (summary["pyramid"] != [1])


def test_pyramid_run_also_scores_the_full_series_maximum_of_the_same_encoder(tmp_path: Path):
    write_tiny_set(tmp_path / "data")
    common = dict(
        dataset="Tiny", data=str(tmp_path / "data"), method="ts2vec", iters=2, batch_size=8,
        ts2vec_depth=1, ts2vec_hidden_dim=4, ts2vec_repr_dim=6, probe_epochs=2, tsne=False,
        progress=False,
    )  # fmt: skip
    pyramid = run_ucr(UCRConfig(**common, ts2vec_pyramid=[1, 2, 4], out=str(tmp_path / "p")))
    plain = run_ucr(UCRConfig(**common, out=str(tmp_path / "m")))
    assert pyramid["pyramid"] == [1, 2, 4] and plain["pyramid"] == [1]
    assert "svm_full_series_max" not in plain  # nothing to compare with
    assert pyramid["final_loss"] == plain["final_loss"]  # pooling does not touch training
    assert pyramid["svm_full_series_max"] == plain["svm"]


def test_cross_validated_pooling_scores_what_a_fixed_run_of_the_chosen_pyramid_scores(
    tmp_path: Path,
):
    write_tiny_set(tmp_path / "data", position_matters=True)
    common = dict(
        dataset="Tiny", data=str(tmp_path / "data"), method="ts2vec", iters=2, batch_size=8,
        ts2vec_depth=1, ts2vec_hidden_dim=4, ts2vec_repr_dim=6, probe_epochs=2, tsne=False,
        progress=False,
    )  # fmt: skip
    # Series of 24 timestamps: the levels 32 and 64 cannot be cut, so they are no candidates.
    chosen = run_ucr(UCRConfig(**common, ts2vec_pooling="cv", ts2vec_pyramid=[1, 2, 4, 32, 64],
                               out=str(tmp_path / "cv")))  # fmt: skip
    assert list(chosen["pyramid_cv_accuracy"]) == ["1", "1,2", "1,2,4"]
    assert chosen["pyramid"] != [1]  # the maximum alone cannot tell which half holds the burst
    cv_config = yaml.safe_load((tmp_path / "cv" / "config.yaml").read_text())
    assert cv_config["ts2vec_pyramid"] == [1, 2, 4]
    fixed = run_ucr(UCRConfig(**common, ts2vec_pyramid=chosen["pyramid"], out=str(tmp_path / "f")))
    assert "pyramid_cv_accuracy" not in fixed
    assert fixed["final_loss"] == chosen["final_loss"]  # pooling does not touch training
    assert fixed["svm"] == chosen["svm"] and fixed["linear_probe"] == chosen["linear_probe"]
    with pytest.raises(ValueError, match="--ts2vec_pyramid 1,2,4,32 pools series of 24"):
        run_ucr(UCRConfig(**common, ts2vec_pyramid=[1, 2, 4, 32], out=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="--ts2vec_pooling must be one of"):
        UCRConfig(ts2vec_pooling="test").validate()


@pytest.mark.parametrize("pyramid", [[1, 2, 4, 8], [2, 4], [3, 1]])
def test_full_series_max_from_pyramid_features(pyramid: list[int]):
    r = torch.randn(5, 24, 7)
    torch.testing.assert_close(
        full_series_max(temporal_pyramid_max(r, pyramid), pyramid), r.amax(dim=1)
    )


@pytest.mark.parametrize("average", [False, True])
def test_ts2vec_parts_and_the_weight_average_switch(average: bool):
    from contrastlab.models.signal_networks import TimestampNetwork
    from contrastlab.training.signal_pretraining import network_spec, pretraining_parts

    config = UCRConfig(method="ts2vec", ts2vec_depth=1, ts2vec_hidden_dim=4,
                       ts2vec_repr_dim=6, ts2vec_average=average)  # fmt: skip
    network, method = pretraining_parts(config, network_spec(config, 2, 30), 30)
    assert isinstance(network, TimestampNetwork)
    assert network(torch.randn(3, 2, 11)).shape == (3, 11, 6)
    assert (method.averaged is not None) == average
    with pytest.raises(ValueError, match="--input raw or standardize"):
        UCRConfig(method="ts2vec", input="fft").validate()


def write_unequal_set(folder: Path) -> None:
    """Two classes told apart by frequency: 12 training and 8 test series of 14 to 32 steps."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    for split, count in (("TRAIN", 12), ("TEST", 8)):
        labels = np.arange(count) % 2
        series = []
        for label in labels:
            times = np.linspace(0, 2 * np.pi, int(rng.integers(14, 33)))
            series.append(5 + 3 * np.sin((1 + 2 * label) * times + rng.uniform(0, 6))[None])
        if split == "TEST":
            series[0] = series[0][:, :14]  # the shortest series is a test series
        write_ts_file(folder / f"Uneven_{split}.ts", series, [f"c{v}" for v in labels], "Uneven")


def test_ucr_command_with_ts2vec_on_series_of_unequal_length(tmp_path: Path, capsys):
    write_unequal_set(tmp_path / "data")
    run_dir = tmp_path / "run"
    args = ["ucr", "--dataset", "Uneven", "--data", str(tmp_path / "data"), "--method", "ts2vec",
            "--normalization", "train_zscore", "--iters", "3", "--ts2vec_depth", "2",
            "--ts2vec_hidden_dim", "8", "--ts2vec_repr_dim", "16", "--probe_epochs", "3",
            "--ts2vec_pyramid", "1,2,4,16"]  # fmt: skip
    assert main([*args, "--no-tsne", "--no-progress", "--out", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert json.loads(capsys.readouterr().out) == without_provenance(summary)
    assert summary["series"] == {
        "official_train": 12, "test": 8, "length": 32, "min_length": 14, "classes": 2,
    }  # fmt: skip
    assert summary["normalization"] == "train_zscore" and math.isfinite(summary["final_loss"])
    assert 0 <= summary["svm"]["test_top1"] <= 100
    assert 0 <= summary["linear_probe"]["test_top1"] <= 100
    # Level 16 cannot cut the shortest series (14 steps): it is no candidate.
    assert list(summary["pyramid_cv_accuracy"]) == ["1", "1,2", "1,2,4"]
    checkpoint = load_checkpoint(run_dir / "last.pth")
    assert checkpoint["model_spec"]["input_length"] == 14  # sized for the shortest series


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], r"'Uneven' has series of unequal length \(14 to 32 timestamps, padded with NaN\): "
             r"--method simclr \(--model resnet1d\) cannot mask the padding; use --method ts2vec"),
        (["--method", "ts2vec", "--input", "standardize"],
         "--input standardize would transform each padded series as a whole; use --input raw"),
        (["--method", "ts2vec", "--ts2vec_pooling", "fixed", "--ts2vec_pyramid", "1,16"],
         "--ts2vec_pyramid 1,16 pools series of 14 timestamps into 16 segments"),
    ],
)  # fmt: skip
def test_unequal_lengths_refused_before_anything_is_written(
    tmp_path: Path, capsys, args: list[str], message: str
):
    write_unequal_set(tmp_path / "data")
    run_dir = tmp_path / "run"
    command = ["ucr", "--dataset", "Uneven", "--data", str(tmp_path / "data"), *args]
    assert main([*command, "--no-progress", "--out", str(run_dir)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("contrastlab ucr: error: ")
    assert re.search(message, error) and not run_dir.exists()


def test_cpc_refuses_a_ucr_set_of_unequal_length(tmp_path: Path, capsys):
    write_unequal_set(tmp_path / "data")
    run_dir = tmp_path / "run"
    command = ["cpc", "--source", "ucr", "--dataset", "Uneven", "--data", str(tmp_path / "data")]
    assert main([*command, "--no-progress", "--out", str(run_dir)]) == 2
    assert "cpc (its convolutions and GRU read every timestamp) cannot mask the padding" in (
        capsys.readouterr().err
    )
    assert not run_dir.exists()
