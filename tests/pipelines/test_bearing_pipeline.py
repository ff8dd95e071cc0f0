"""``contrastlab bearing`` end to end on tiny configurations: the simulator (several training
loads), generated CWRU-named recordings (a class missing at the training load is left out of the
cross-load set), a folder of the user's recordings, and a few real CWRU files when the data are
present (``CONTRASTLAB_CWRU_DIR`` or ``<repo>/../shared/data/cwru``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from bearing_fixtures import simulated, write_cwru_mat
from PIL import Image

from contrastlab.cli import main
from contrastlab.config.options import build_config
from contrastlab.config.signal import DiagnoseConfig
from contrastlab.data.bearing_sim import simulate_bearing_record
from contrastlab.models.diagnosis_model import load_diagnosis_model
from contrastlab.pipelines.bearing import BearingConfig, run_bearing
from contrastlab.pipelines.cpc import CPCConfig
from contrastlab.pipelines.diagnose import diagnose_files
from contrastlab.training.checkpoint import load_checkpoint

TINY = [
    "--window_length", "1024", "--stride", "512", "--epochs", "2", "--batch_size", "64",
    "--labels_per_class", "1,2", "--n_draws", "2", "--finetune_epochs", "1",
    "--finetune_steps_per_epoch", "2", "--finetune_batch_size", "16", "--probe_epochs", "5",
    "--no-progress",
]  # fmt: skip
EVALUATORS = ("linear_probe", "fine_tune", "scratch_baseline")


def cwru_dir() -> Path | None:
    candidates = [os.environ.get("CONTRASTLAB_CWRU_DIR")]
    candidates.append(str(Path(__file__).resolve().parents[3] / "shared" / "data" / "cwru"))
    for candidate in candidates:
        if candidate and any(Path(candidate).rglob("*.mat")):
            return Path(candidate)
    return None


def assert_png(path: str | Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("bearing-sim")
    args = ["bearing", "--source", "bearing-sim", "--sim_samples", "12000", *TINY]
    args += ["--label_scheme", "4class"]  # 4 classes: fewer runs' worth of figures
    args += ["--train_load", "0,2"]  # model.pt learns both loads; 1 hp is the cross-load test
    assert main([*args, "--out", str(run_dir)]) == 0
    return run_dir


def test_summary_holds_every_figure(sim_run: Path):
    summary = json.loads((sim_run / "summary.json").read_text())
    assert summary["method"] == "simclr" and summary["input"] == "fft" and summary["model"] == "mlp"
    assert summary["pretraining"]["uses_labels"] is False
    data = summary["data"]
    assert data["train_load_hp"] == [0, 2] and data["test_load_hp"] == 1
    assert data["training_rpm"] == {"min": 1750.0, "max": 1797.0, "mean": 1773.5}
    assert data["train_windows_per_class"] == [30, 90, 90, 90]  # 2 loads x (1 or 3) records
    assert data["cross_load_left_out"] == {}
    for evaluator in EVALUATORS:
        table = summary["few_label"][evaluator]
        assert list(table) == ["1", "2", "all"]
        for key, entry in table.items():
            draws = 1 if key == "all" else 2
            assert len(entry["scores"]) == draws == len(entry["cross_load"]["scores"])
            assert entry["mean"] == pytest.approx(np.mean(entry["scores"]))
            assert all(0 <= s <= 100 for s in entry["scores"] + entry["cross_load"]["scores"])
        assert table["1"]["n_labeled"] == 4 and table["2"]["n_labeled"] == 8
    assert (
        summary["few_label"]["fine_tune"]["all"]["n_labeled"] == summary["data"]["windows"]["train"]
    )
    comparison = summary["pretraining_vs_scratch"]["1"]
    assert set(comparison) == {"test", "cross_load"}
    assert comparison["test"]["pretraining_wins"] == (
        comparison["test"]["pretrained_mean"] > comparison["test"]["scratch_mean"]
    )
    final = summary["model_pt"]
    assert final["classifier"] == "fine_tune"
    assert final["test"] == pytest.approx(summary["few_label"]["fine_tune"]["all"]["mean"])
    assert set(final["sets"]) == {"val", "test", "cross_load"}
    for name, entry in final["sets"].items():
        windows = summary["data"]["windows"][name]
        assert entry["windows"] == windows == entry["normal_windows"] + entry["faulty_windows"]
        assert entry["normal_windows"] == windows // 10  # 1 normal record of 10 per load
        for rate in ("false_alarm_rate", "missed_detection_rate"):
            assert 0 <= entry[rate] <= 1
        assert entry["doubtful_fraction"] >= entry["out_of_distribution_fraction"]
        assert entry["doubtful_fraction"] >= entry["low_confidence_fraction"]
    assert final["sets"]["test"]["accuracy"] == final["test"]
    assert final["ood"]["held_out"] == "val" and final["ood"]["score_quantile"] == 0.99


def test_run_directory_and_plots(sim_run: Path):
    names = {p.name for p in sim_run.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "last.pth", "model.pt", "summary.json"} <= names
    summary = json.loads((sim_run / "summary.json").read_text())
    plots = summary["plots"]
    for key in ("confusion_test", "confusion_cross_load", "tsne_test", "tsne_cross_load"):
        assert_png(plots[key])
    assert_png(plots["few_label"])
    assert_png(plots["training_curves"])
    assert set(plots["envelope_spectra"]) == {"normal", "inner_race", "ball", "outer_race"}
    for path in plots["envelope_spectra"].values():
        assert_png(path)
    assert (sim_run / "fine_tune" / "00004labels_draw1" / "last.pth").is_file()
    assert (sim_run / "scratch_baseline" / "00008labels_draw0" / "metrics.jsonl").is_file()


def test_model_pt_loads_safely_and_diagnoses(sim_run: Path, tmp_path: Path):
    payload = torch.load(sim_run / "model.pt", weights_only=True)
    assert payload["window_length"] == 1024 and payload["input"] == "fft"
    assert payload["class_names"] == ["normal", "inner_race", "ball", "outer_race"]
    assert payload["training_rpm"] == {"min": 1750.0, "max": 1797.0, "mean": 1773.5}
    assert payload["speed_tolerance"] == 0.03 and payload["trained_on"]["load_hp"] == [0, 2]
    model = load_diagnosis_model(sim_run / "model.pt")
    assert model.normalization is not None and model.ood is not None
    record = simulate_bearing_record("IR021", load_hp=0, n_samples=6000, seed=5)
    path = write_cwru_mat(tmp_path, "IR021", 0, 209, record.signal, rpm=1797)
    (result,) = diagnose_files([path], DiagnoseConfig(ckpt=str(sim_run / "model.pt")))
    assert result["n_windows"] == 5 and result["best_guess"] in payload["class_names"]
    assert result["file_class"] == "IR021" and result["warnings"] == []


def test_methods_share_the_protocol(tmp_path: Path):
    for method in ("supcon", "siamese", "cpc"):
        config = BearingConfig(
            source="bearing-sim", sim_samples=12000, method=method, window_length=1024,
            stride=512, epochs=1, batch_size=64, labels_per_class=[2], n_draws=1,
            finetune=False, baseline=False, plots=False, test_load=-1, probe_epochs=3,
            progress=False, out=str(tmp_path / method),
        )  # fmt: skip
        summary = run_bearing(config)
        assert summary["pretraining"]["uses_labels"] is (method != "cpc")
        assert summary["model_pt"]["classifier"] == "linear_probe"
        assert "cross_load" not in summary["few_label"]["linear_probe"]["2"]
        assert list(summary["few_label"]) == ["linear_probe"]
        assert load_diagnosis_model(tmp_path / method / "model.pt").classifier is not None
    history = [json.loads(line) for line in (tmp_path / "cpc" / "metrics.jsonl").open()]
    assert "cpc_top1_step1" in history[-1]


def test_scratch_baseline_can_be_the_classic_wdcnn(tmp_path: Path):
    config = BearingConfig(
        source="bearing-sim", sim_samples=12000, window_length=1024, stride=512, epochs=1,
        batch_size=64, labels_per_class=[1], n_draws=1, finetune=False, plots=False,
        baseline_model="wdcnn", baseline_input="standardize", finetune_epochs=1,
        finetune_steps_per_epoch=2, test_load=-1, probe_epochs=3, progress=False,
        out=str(tmp_path),
    )  # fmt: skip
    summary = run_bearing(config)
    assert summary["scratch_baseline"] == {"model": "wdcnn", "input": "standardize"}
    assert summary["model"] == "mlp" and summary["input"] == "fft"
    checkpoint = load_checkpoint(tmp_path / "scratch_baseline" / "00010labels_draw0" / "last.pth")
    assert any(key.startswith("encoder.backbone.features") for key in checkpoint["model"])
    assert set(summary["pretraining_vs_scratch"]["1"]) == {"test"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "cwru"], "--data"),
        (["--source", "bearing-sim", "--test_load", "0"], "--test_load 0 is one of"),
        (["--source", "bearing-sim", "--train_load", "0,0"], "distinct motor loads"),
        (["--source", "bearing-sim", "--train_load", "5"], "--train_load must be one of"),
        (["--source", "bearing-sim", "--rpm", "1797"], "--rpm describes the recordings of"),
        (["--source", "cwru", "--data", ".", "--sample_rate_hz", "48000"], "--sample_rate_hz"),
        (["--source", "folder"], "--source folder needs the folder of recordings"),
        (["--source", "folder", "--data", ".", "--test_load", "1"], "no motor loads"),
        (["--source", "folder", "--data", ".", "--channels", "a,a"], "distinct channels"),
        (["--source", "bearing-sim", "--method", "byol"], "--method"),
        (["--source", "bearing-sim", "--method", "cpc", "--model", "wdcnn"], "cpc"),
        (["--source", "bearing-sim", "--input", "wavelet"], "--input"),
        (["--source", "bearing-sim", "--baseline_model", "lstm"], "--baseline_model"),
        (["--source", "bearing-sim", "--labels_per_class", "0"], "labels_per_class"),
        (["--source", "bearing-sim", "--sim_samples", "5000", "--labels_per_class", "50"], "50"),
    ],
)
def test_bad_options_are_clear_errors(args, message, tmp_path, capsys):
    assert main(["bearing", *args, "--out", str(tmp_path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(cwru_dir() is None, reason="no CWRU data (set CONTRASTLAB_CWRU_DIR)")
def test_real_cwru_files_cross_load(tmp_path: Path):
    source = cwru_dir()
    assert source is not None
    for name in (
        "12k_Drive_End_IR021_0_209.mat", "12k_Drive_End_OR021@6_0_234.mat",
        "12k_Drive_End_IR021_1_210.mat", "12k_Drive_End_OR021@6_1_235.mat",
    ):  # fmt: skip
        found = next(source.rglob(name))
        (tmp_path / "data" / found.parent.name).mkdir(parents=True, exist_ok=True)
        os.symlink(found, tmp_path / "data" / found.parent.name / name)
    config = BearingConfig(
        data=str(tmp_path / "data"), stride=2048, epochs=3, batch_size=32,
        labels_per_class=[2], n_draws=1, finetune=False, baseline=False, plots=False,
        probe_epochs=20, progress=False, out=str(tmp_path / "run"),
    )  # fmt: skip
    summary = run_bearing(config)
    assert summary["data"]["cross_load_classes"] == ["IR021", "OR021@6"]
    probe = summary["few_label"]["linear_probe"]["all"]
    assert probe["mean"] >= 90 and probe["cross_load"]["mean"] >= 90
    (result,) = diagnose_files(
        [next(source.rglob("12k_Drive_End_IR021_1_210.mat"))],
        DiagnoseConfig(ckpt=str(tmp_path / "run" / "model.pt")),
    )
    assert result["best_guess"] == "IR021" and result["rpm"] == 1774


@pytest.mark.parametrize("config_class", [BearingConfig, CPCConfig])
def test_cwru_folder_from_data_or_the_environment(
    config_class: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONTRASTLAB_CWRU_DIR", raising=False)
    with pytest.raises(ValueError, match="--data DIR or the CONTRASTLAB_CWRU_DIR"):
        config_class(source="cwru").validate()
    config_class(source="cwru", data=str(tmp_path)).validate()
    monkeypatch.setenv("CONTRASTLAB_CWRU_DIR", str(tmp_path))
    config_class(source="cwru").validate()  # the loader reads the variable
    with pytest.raises(ValueError, match="bearing-sim simulates its data: drop --data"):
        config_class(source="bearing-sim", data=str(tmp_path)).validate()


def _cwru_like_folder(root: Path) -> Path:
    """Generated CWRU-named recordings: normal, IR021 and OR021@6 at 0 hp; no normal at 1 hp
    (as in the real data set)."""
    number = 100
    for load, classes in ((0, ("normal", "IR021", "OR021@6")), (1, ("IR021", "OR021@6"))):
        for class_name in classes:
            rpm = 1797.0 if load == 0 else 1772.0
            signal = simulated(class_name, n_samples=12_000, seed=number, load_hp=load)
            write_cwru_mat(root / f"{load}HP", class_name, load, number, signal, rpm)
            number += 1
    return root


TINY_CWRU = dict(
    window_length=1024, stride=512, epochs=2, batch_size=32, labels_per_class=[2], n_draws=1,
    finetune=False, baseline=False, probe_epochs=10, progress=False, tsne=False,
)  # fmt: skip


def test_a_class_without_training_recording_is_left_out_of_the_cross_load_set(tmp_path: Path):
    data = _cwru_like_folder(tmp_path / "cwru")
    config = BearingConfig(data=str(data), train_load=[1], test_load=0,
                           out=str(tmp_path / "run"), **TINY_CWRU)  # fmt: skip
    summary = run_bearing(config)
    assert summary["data"]["cross_load_classes"] == ["IR021", "OR021@6"]
    assert summary["data"]["cross_load_left_out"] == {
        "normal": "no training recording of this class"
    }
    assert summary["data"]["windows"]["cross_load"] == 2 * 22  # 12000 samples: 22 windows each
    assert summary["data"]["training_rpm"] == {"min": 1772.0, "max": 1772.0, "mean": 1772.0}
    cross = summary["model_pt"]["sets"]["cross_load"]
    assert cross["normal_windows"] == 0 and cross["false_alarm_rate"] is None
    assert set(summary["plots"]["envelope_spectra"]) == {"IR021", "OR021@6"}
    # The other direction: the cross-load matrix has a normal row without a recording.
    config = BearingConfig(data=str(data), train_load=[0], test_load=1,
                           out=str(tmp_path / "run0"), **TINY_CWRU)  # fmt: skip
    summary = run_bearing(config)
    assert summary["data"]["cross_load_classes"] == ["IR021", "OR021@6"]
    assert summary["data"]["cross_load_left_out"] == {}
    assert_png(summary["plots"]["confusion_cross_load"])


def test_folder_of_own_recordings_gives_a_model(tmp_path: Path):
    root = tmp_path / "recordings"
    for class_name, folder in (("normal", "normal"), ("IR021", "inner"), ("OR021@6", "outer")):
        (root / folder).mkdir(parents=True)
        for take in range(2):
            signal = simulated(class_name, n_samples=9_000, seed=10 + take)
            np.save(root / folder / f"take{take}.npy", signal)
    options = {"source": "folder", "data": str(root), "sample_rate_hz": 12_000, "rpm": 1797}
    config = build_config(BearingConfig, {**options, "out": str(tmp_path / "run"), **TINY_CWRU})
    assert config.test_load == -1  # the folder preset
    assert config.channel_list is None  # --channels auto: every channel of the files
    summary = run_bearing(config)
    data = summary["data"]
    assert data["class_names"] == ["inner", "normal", "outer"] and data["channels"] == ["ch0"]
    assert data["train_load_hp"] is None and "test_load_hp" not in data
    assert summary["model_pt"]["sets"]["test"]["normal_windows"] > 0  # "normal" is the healthy one
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert payload["label_scheme"] is None and payload["channels"] == ["ch0"]
    assert payload["training_rpm"]["mean"] == 1797 and payload["sample_rate_hz"] == 12_000
    path = tmp_path / "new.npy"
    np.save(path, simulated("IR021", seed=99))
    (result,) = diagnose_files([path], DiagnoseConfig(ckpt=str(tmp_path / "run" / "model.pt"),
                                                      sample_rate_hz=12_000))  # fmt: skip
    assert result["best_guess"] == "inner"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"X105_DE_time": np.ones((2, 6000))}, "is a matrix of shape (2, 6000)"),
        ({"X105_DE_time": np.full((6000, 1), np.nan)}, "6000 non-finite samples"),
    ],
)
def test_bad_recordings_stop_bearing_before_training(variables, message, tmp_path, capsys):
    folder = tmp_path / "cwru" / "0HP"
    folder.mkdir(parents=True)
    scipy.io.savemat(folder / "12k_Drive_End_IR007_0_105.mat", variables)
    args = ["bearing", "--data", str(tmp_path / "cwru"), "--out", str(tmp_path / "run")]
    assert main([*args, "--channels", "DE", "--test_load", "-1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "12k_Drive_End_IR007_0_105.mat" in err and message in err
    assert not (tmp_path / "run").exists()  # refused before the run directory is claimed
