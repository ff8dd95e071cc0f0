"""``contrastlab bearing`` end to end on tiny configurations: the simulator always, a few real CWRU
files when the data are present (``CONTRASTLAB_CWRU_DIR`` or ``<repo>/../shared/data/cwru``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from contrastlab.cli import main
from contrastlab.data.bearing_sim import simulate_bearing_record
from contrastlab.pipelines.bearing import BearingConfig, run_bearing
from contrastlab.pipelines.cpc import CPCConfig
from contrastlab.pipelines.diagnose import diagnose_files, load_diagnosis_model
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
    assert main([*args, "--out", str(run_dir)]) == 0
    return run_dir


def test_summary_holds_every_figure(sim_run: Path):
    summary = json.loads((sim_run / "summary.json").read_text())
    assert summary["method"] == "simclr" and summary["input"] == "fft" and summary["model"] == "mlp"
    assert summary["pretraining"]["uses_labels"] is False
    assert summary["data"]["train_load_hp"] == 0 and summary["data"]["test_load_hp"] == 1
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
    model = load_diagnosis_model(sim_run / "model.pt")
    assert model.normalization is not None
    record = simulate_bearing_record("IR021", load_hp=0, n_samples=6000, seed=5)
    path = tmp_path / "12k_Drive_End_IR021_0_209.mat"
    scipy.io.savemat(path, {"X209_DE_time": record.signal[:, None]})
    (result,) = diagnose_files([path], sim_run / "model.pt")
    assert result["n_windows"] == 5 and result["verdict"] in payload["class_names"]
    assert result["file_class"] == "IR021"


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
        (["--source", "bearing-sim", "--test_load", "0"], "--test_load"),
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
        [next(source.rglob("12k_Drive_End_IR021_1_210.mat"))], tmp_path / "run" / "model.pt"
    )
    assert result["verdict"] == "IR021"


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
