"""``contrastlab diagnose``: model.pt format (weights_only), per-window and per-file results
checked against a direct computation, JSON output, and clear errors on .mat fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from contrastlab.cli import main
from contrastlab.models.diagnosis_model import load_diagnosis_model, save_diagnosis_model
from contrastlab.models.signal_spec import build_classifier, make_spec
from contrastlab.pipelines.diagnose import diagnose_files, read_mat_signal

WINDOW = 512
CLASSES = ["normal", "IR007", "B007"]
MEAN, STD = 0.1, 2.0


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    spec = make_spec("mlp", "fft", 1, WINDOW)
    classifier = build_classifier(spec, len(CLASSES)).eval()
    with torch.no_grad():  # spread the logits so windows disagree
        classifier.classifier.weight.mul_(20)
    return save_diagnosis_model(
        tmp_path_factory.mktemp("model") / "model.pt",
        classifier,
        spec,
        class_names=CLASSES,
        sample_rate_hz=12_000,
        window_length=WINDOW,
        stride=WINDOW,
        channels=["DE"],
        normalization={"mean": [MEAN], "std": [STD]},
        label_scheme="10class",
        trained_on={"source": "test"},
    )


def write_mat(path: Path, **variables: np.ndarray) -> Path:
    scipy.io.savemat(path, variables)
    return path


@pytest.fixture
def cwru_file(tmp_path) -> Path:
    signal = np.random.default_rng(0).standard_normal((5 * WINDOW + 100, 1))
    return write_mat(
        tmp_path / "12k_Drive_End_IR007_0_105.mat",
        X105_DE_time=signal,
        X105_FE_time=signal * 0.5,
        X105RPM=np.array([[1797]]),
        X999_DE_time=np.zeros((10, 1)),  # another record's array: must not be picked
    )


def test_model_file_holds_plain_data_only(model_path):
    payload = torch.load(model_path, weights_only=True)
    assert payload["class_names"] == CLASSES
    assert payload["sample_rate_hz"] == 12_000 and payload["window_length"] == WINDOW
    assert payload["input"] == "fft" and payload["normalization"] == {"mean": [MEAN], "std": [STD]}
    assert isinstance(payload["state_dict"], dict)
    model = load_diagnosis_model(model_path)
    assert model.class_names == CLASSES and not model.classifier.training


def test_results_match_a_direct_computation(model_path, cwru_file):
    (result,) = diagnose_files([cwru_file], model_path)
    signal = scipy.io.loadmat(cwru_file)["X105_DE_time"].reshape(-1)
    windows = np.stack([signal[i * WINDOW : (i + 1) * WINDOW] for i in range(5)])[:, None]
    inputs = torch.from_numpy(((windows - MEAN) / STD).astype(np.float32))
    model = load_diagnosis_model(model_path)
    with torch.no_grad():
        probabilities = torch.softmax(model.classifier(inputs), dim=1)
    assert result["n_windows"] == 5
    assert result["window_starts"] == [0, 512, 1024, 1536, 2048]
    assert result["window_classes"] == [CLASSES[i] for i in probabilities.argmax(1).tolist()]
    np.testing.assert_allclose(result["window_confidences"], probabilities.max(1).values, atol=1e-5)
    mean = probabilities.mean(0)
    assert result["verdict"] == CLASSES[int(mean.argmax())]
    assert result["verdict_confidence"] == pytest.approx(float(mean.max()), abs=1e-6)
    votes = torch.bincount(probabilities.argmax(1), minlength=3)
    assert result["majority"] == CLASSES[int(votes.argmax())]
    assert sum(result["votes"].values()) == 5
    assert result["file_class"] == "IR007"


def test_json_output_one_object_per_file(model_path, cwru_file, tmp_path, capsys):
    other = write_mat(tmp_path / "bench_run.mat", rig_DE_time=np.ones(3 * WINDOW) * 0.3)
    code = main(["diagnose", str(cwru_file), str(other), "--ckpt", str(model_path), "--json"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["file"].endswith("IR007_0_105.mat") and second["file"].endswith("bench_run.mat")
    for record in (first, second):
        assert set(record["window_classes"]) <= set(CLASSES)
        assert len(record["window_classes"]) == record["n_windows"]
        assert record["verdict"] in CLASSES and 0 < record["verdict_confidence"] <= 1
    assert second["n_windows"] == 3 and "file_class" not in second


def test_text_output(model_path, cwru_file, capsys):
    assert main(["diagnose", str(cwru_file), "--ckpt", str(model_path), "--windows"]) == 0
    out = capsys.readouterr().out
    assert "IR007_0_105.mat" in out and "majority" in out and out.count("window @") == 5


def run_error(capsys, *args: str) -> str:
    assert main(["diagnose", *args]) == 2
    return capsys.readouterr().err


def test_missing_variable_is_a_clear_error(model_path, tmp_path, capsys):
    path = write_mat(tmp_path / "12k_Drive_End_B007_0_118.mat", X118_FE_time=np.ones((4000, 1)))
    err = run_error(capsys, str(path), "--ckpt", str(model_path))
    assert "X118_DE_time" in err and "X118_FE_time" in err
    unnamed = write_mat(tmp_path / "mystery.mat", a=np.ones(4000), b=np.ones(4000))
    err = run_error(capsys, str(unnamed), "--ckpt", str(model_path))
    assert "--variable" in err and "'a'" in err
    err = run_error(capsys, str(unnamed), "--ckpt", str(model_path), "--variable", "c")
    assert "no variable 'c'" in err


def test_named_variable_is_read(model_path, tmp_path):
    path = write_mat(tmp_path / "mystery.mat", accel=np.ones(2 * WINDOW), other=np.zeros(9))
    (result,) = diagnose_files([path], model_path, variable="accel")
    assert result["n_windows"] == 2


def test_short_signal_is_a_clear_error(model_path, tmp_path, capsys):
    path = write_mat(tmp_path / "12k_Drive_End_B007_0_118.mat", X118_DE_time=np.ones((300, 1)))
    err = run_error(capsys, str(path), "--ckpt", str(model_path))
    assert "300 samples" in err and "512" in err


def test_wrong_sample_rate_is_a_clear_error(model_path, cwru_file, capsys):
    err = run_error(capsys, str(cwru_file), "--ckpt", str(model_path), "--sample_rate_hz", "48000")
    assert "48000" in err and "12000" in err


def test_bad_files_and_checkpoints(model_path, cwru_file, tmp_path, capsys):
    err = run_error(capsys, str(tmp_path / "absent.mat"), "--ckpt", str(model_path))
    assert "not found" in err
    err = run_error(capsys, str(cwru_file), "--ckpt", str(tmp_path / "absent.pt"))
    assert "not found" in err
    checkpoint = tmp_path / "last.pth"
    torch.save({"model": {}, "epoch": 3}, checkpoint)
    err = run_error(capsys, str(cwru_file), "--ckpt", str(checkpoint))
    assert "not a contrastlab diagnosis model" in err
    text = write_mat(tmp_path / "12k_Drive_End_B007_0_118.mat", X118_DE_time=np.array(["abc"]))
    with pytest.raises(ValueError, match="numeric vector"):
        read_mat_signal(text, ["DE"])
    with pytest.raises(ValueError, match="cannot read"):
        read_mat_signal(checkpoint, ["DE"])
