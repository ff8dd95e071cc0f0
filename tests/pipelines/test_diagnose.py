"""``contrastlab diagnose``: the bad inputs of issue 13 (dead sensor, white noise, a recording at
4x the rate read without its rate) come out rejected or uncertain, never a confident class, and the
resampled recording is named correctly once its rate is given; every input check has its named
reason and the other files of a call still get their results; per-window results match a direct
computation; the JSON schema; exit codes; an older model.pt without calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile
import torch
from bearing_fixtures import SIM_RATE_HZ, SIM_WINDOW, simulated, write_cwru_mat

from contrastlab.cli import main
from contrastlab.config.signal import DiagnoseConfig
from contrastlab.data.resample import resample_signal
from contrastlab.evaluation.ood import OodDetector
from contrastlab.models.diagnosis_model import load_diagnosis_model, save_diagnosis_model
from contrastlab.models.signal_spec import build_classifier, make_spec
from contrastlab.pipelines.diagnose import diagnose_files

RESULT_KEYS = {
    "file", "verdict", "best_guess", "confidence", "ood_score", "doubtful_fraction",
    "out_of_distribution_fraction", "low_confidence_fraction", "n_windows", "window_starts",
    "window_classes", "window_confidences", "window_ood_scores", "window_doubtful",
    "mean_probabilities", "majority", "majority_fraction", "votes", "thresholds",
    "sample_rate_hz", "resampled", "rpm", "warnings", "rejection", "file_class",
}  # fmt: skip
CLASSES_4 = ["normal", "inner_race", "ball", "outer_race"]


def diagnose(paths: list[Path], model: Path, **options: object) -> list[dict]:
    return diagnose_files(paths, DiagnoseConfig(ckpt=str(model), **options))


def save_npy(folder: Path, name: str, signal: np.ndarray) -> Path:
    path = folder / name
    np.save(path, signal)
    return path


# --------------------------------------------------------------- the bad inputs of the issue


def test_the_issues_bad_inputs_are_never_a_confident_class(sim_model: Path, tmp_path: Path):
    fault = simulated("IR021")
    zeros = save_npy(tmp_path, "dead_sensor.npy", np.zeros(12_000))
    noise = save_npy(tmp_path, "noise.npy", np.random.default_rng(0).standard_normal(12_000))
    fast = resample_signal(fault[None], SIM_RATE_HZ, 4 * SIM_RATE_HZ)[0]
    at_48k = save_npy(tmp_path, "inner_race_48k.npy", fast)
    good = save_npy(tmp_path, "inner_race.npy", fault)
    dead, white, wrong_rate, named = diagnose([zeros, noise, at_48k, good], sim_model)
    assert dead["verdict"] == "rejected" and dead["rejection"]["reason"] == "flat"
    assert white["verdict"] == "uncertain" and white["out_of_distribution_fraction"] > 0.5
    assert wrong_rate["verdict"] == "uncertain"
    assert wrong_rate["out_of_distribution_fraction"] > 0.5
    assert any("sample rate unknown" in warning for warning in wrong_rate["warnings"])
    assert named["verdict"] == "inner_race" and named["doubtful_fraction"] <= 0.5
    # The same 48 kHz recording with its rate: resampled to the model's 12 kHz and named.
    (resampled,) = diagnose([at_48k], sim_model, sample_rate_hz=48_000)
    assert resampled["verdict"] == "inner_race" and resampled["resampled"] is True
    assert resampled["sample_rate_hz"] == 48_000 and resampled["n_windows"] == named["n_windows"]
    assert resampled["warnings"] == []


def test_exit_code_says_whether_a_file_failed(sim_model: Path, tmp_path: Path, capsys):
    good = save_npy(tmp_path, "inner_race.npy", simulated("IR021"))
    noise = save_npy(tmp_path, "noise.npy", np.random.default_rng(1).standard_normal(12_000))
    dead = save_npy(tmp_path, "dead.npy", np.zeros(12_000))
    base = ["diagnose", "--ckpt", str(sim_model), "--sample_rate_hz", "12000"]
    assert main([*base, str(good)]) == 0
    assert main([*base, str(good), str(noise)]) == 4  # one uncertain, none rejected
    assert main([*base, str(noise), str(dead), str(good)]) == 3  # one rejected
    out = capsys.readouterr().out
    assert "dead.npy: rejected (flat:" in out and "noise.npy: uncertain (best guess" in out


# ------------------------------------------------------------------ every input check, named


def _write_mat(path: Path, **variables: np.ndarray) -> Path:
    scipy.io.savemat(path, variables)
    return path


def _write_csv(path: Path, table: np.ndarray, header: str = "") -> Path:
    np.savetxt(path, table, delimiter=",", header=header, comments="")
    return path


def bad_files(folder: Path) -> dict[str, Path]:
    """One file per rejection reason (the reason is the key)."""
    signal = simulated("OR014@6")
    clipped = np.clip(20 * signal, -1.0, 1.0)  # an amplifier gain 20x too high
    nan = signal.copy()
    nan[100] = np.nan
    truncated = folder / "truncated.mat"
    truncated.write_bytes(_write_mat(folder / "whole.mat", x_DE_time=signal).read_bytes()[:400])
    (folder / "empty.mat").write_bytes(b"")
    (folder / "notes.txt").write_text("1, 2, 3\n")
    return {
        "not_found": folder / "absent.npy",
        "empty": folder / "empty.mat",
        "unsupported": folder / "notes.txt",
        "unreadable": truncated,
        "complex": save_npy(folder, "complex.npy", signal * (1 + 1j)),
        "matrix": _write_mat(folder / "matrix.mat", x_DE_time=np.ones((4, 5000)), rpm=1797.0),
        "missing_channel": _write_mat(folder / "fan_end_only.mat", x_FE_time=signal),
        "channels": _write_csv(folder / "two_channels.csv", np.stack([signal, signal], axis=1)),
        "sample_rate": save_npy(folder, "rate.npy", signal),
        "non_finite": save_npy(folder, "nan.npy", nan),
        "too_short": save_npy(folder, "short.npy", signal[: SIM_WINDOW - 1]),
        "flat": save_npy(folder, "flat.npy", np.full(12_000, 0.3)),
        "clipped": save_npy(folder, "clipped.npy", clipped),
    }


def test_every_check_rejects_with_its_reason_and_the_other_files_still_get_results(
    sim_model: Path, tmp_path: Path
):
    files = bad_files(tmp_path)
    good = save_npy(tmp_path, "inner_race.npy", simulated("IR021"))
    # A stated rate 1000 times the model's is refused by the resampler: reason sample_rate.
    rate_file = files.pop("sample_rate")
    (refused,) = diagnose([rate_file], sim_model, sample_rate_hz=12_000_000)
    assert (
        refused["rejection"]["reason"] == "sample_rate"
        and "1000-fold" in refused["rejection"]["message"]
    )
    results = diagnose([*files.values(), good], sim_model, sample_rate_hz=12_000)
    *rejected, named = results
    for (reason, path), result in zip(files.items(), rejected, strict=True):
        assert result["file"] == str(path)
        assert result["verdict"] == "rejected" and result["best_guess"] is None, reason
        assert result["rejection"]["reason"] == reason, result["rejection"]
        assert result["n_windows"] == 0 and result["window_classes"] == []
    assert named["verdict"] == "inner_race"
    by_reason = {r["rejection"]["reason"]: r["rejection"]["message"] for r in rejected}
    assert "x_DE_time" in by_reason["matrix"] and "'rpm'" in by_reason["matrix"]  # variables
    assert "(4, 5000)" in by_reason["matrix"]
    assert "1 non-finite" in by_reason["non_finite"]
    assert f"shorter than one window of {SIM_WINDOW} samples" in by_reason["too_short"]
    assert "the model reads 1 channel(s)" in by_reason["channels"]


def test_a_file_with_several_problems_lists_them_all(sim_model: Path, tmp_path: Path):
    path = save_npy(tmp_path, "dead_and_short.npy", np.zeros(100))
    (result,) = diagnose([path], sim_model, sample_rate_hz=12_000)
    reasons = [problem["reason"] for problem in result["rejection"]["problems"]]
    assert reasons == ["flat", "too_short"] and result["rejection"]["reason"] == "flat"


# ------------------------------------------------------------------ per-window computation


def _reference(model_path: Path, signal: np.ndarray) -> dict[str, torch.Tensor]:
    """Windows, probabilities and OOD scores computed step by step from the stored model."""
    model = load_diagnosis_model(model_path)
    detector = OodDetector.from_dict(model.ood)
    count = signal.shape[-1] // SIM_WINDOW
    windows = np.stack([signal[i * SIM_WINDOW : (i + 1) * SIM_WINDOW] for i in range(count)])
    mean, std = model.normalization["mean"][0], model.normalization["std"][0]
    inputs = torch.from_numpy(((windows[:, None] - mean) / std).astype(np.float32))
    with torch.no_grad():
        embeddings = model.classifier.encoder(inputs).double()
        probabilities = torch.softmax(model.classifier(inputs), dim=1)
    # Mahalanobis distance to the nearest class mean, by the covariance itself (no shortcut).
    covariance = detector.cholesky_factor @ detector.cholesky_factor.T
    centred = embeddings[:, None, :] - detector.class_means[None]  # [N, K, D]
    solved = torch.linalg.solve(covariance, centred.transpose(1, 2))  # [N, D, K]
    distances = torch.einsum("nkd,ndk->nk", centred, solved).sqrt()
    return {"probabilities": probabilities, "scores": distances.min(dim=1).values,
            "detector": detector}  # fmt: skip


def test_results_match_a_direct_computation(sim_model: Path, tmp_path: Path):
    signal = np.concatenate([simulated("B021"), simulated("normal", n_samples=4_000)])
    path = save_npy(tmp_path, "mixed.npy", signal)
    (result,) = diagnose([path], sim_model, sample_rate_hz=12_000)
    reference = _reference(sim_model, signal)
    probabilities, scores, detector = (
        reference[k] for k in ("probabilities", "scores", "detector")
    )
    count = probabilities.shape[0]
    assert result["n_windows"] == count == 15
    assert result["window_starts"] == [i * SIM_WINDOW for i in range(count)]
    assert result["window_classes"] == [CLASSES_4[i] for i in probabilities.argmax(1).tolist()]
    np.testing.assert_allclose(result["window_confidences"], probabilities.max(1).values, atol=1e-5)
    np.testing.assert_allclose(result["window_ood_scores"], scores, rtol=1e-4)
    doubtful = (scores > detector.score_threshold) | (
        probabilities.max(1).values < detector.confidence_threshold
    )
    assert result["window_doubtful"] == doubtful.tolist()
    assert result["doubtful_fraction"] == pytest.approx(float(doubtful.double().mean()))
    assert result["ood_score"] == pytest.approx(float(np.median(scores.numpy())), rel=1e-4)
    mean = probabilities.mean(0)
    assert result["best_guess"] == CLASSES_4[int(mean.argmax())]
    assert result["confidence"] == pytest.approx(float(mean.max()), abs=1e-6)
    expected = "uncertain" if float(doubtful.double().mean()) > 0.5 else result["best_guess"]
    assert result["verdict"] == expected
    votes = torch.bincount(probabilities.argmax(1), minlength=4)
    assert result["majority"] == CLASSES_4[int(votes.argmax())]
    assert result["thresholds"]["ood_score"] == detector.score_threshold
    assert result["thresholds"]["ood_score_quantile"] == 0.99


# --------------------------------------------------------- rates, speeds, formats, channels


def test_wav_states_its_rate_and_cwru_names_are_12k(sim_model: Path, tmp_path: Path):
    fault = simulated("OR021@6", n_samples=24_000)
    wav = tmp_path / "outer_race_24k.wav"
    fast = resample_signal(fault[None], SIM_RATE_HZ, 24_000)[0]
    scipy.io.wavfile.write(wav, 24_000, (fast / np.abs(fast).max() * 0.5).astype(np.float32))
    (result,) = diagnose([wav], sim_model, sample_rate_hz=48_000)
    assert result["sample_rate_hz"] == 24_000 and result["resampled"] is True
    assert result["verdict"] == "outer_race"
    assert result["warnings"] == ["--sample_rate_hz 48000 ignored: the file states 24000 Hz"]
    named = write_cwru_mat(tmp_path, "OR021@6", 0, 234, fault, rpm=1797)
    (cwru,) = diagnose([named], sim_model)
    assert cwru["sample_rate_hz"] == 12_000 and cwru["warnings"] == []
    assert cwru["rpm"] == 1797 and cwru["file_class"] == "OR021@6"
    assert cwru["verdict"] == "outer_race"


def test_shaft_speed_far_from_training_is_a_warning(sim_model: Path, tmp_path: Path):
    model = load_diagnosis_model(sim_model)
    assert model.training_rpm == {"min": 1797.0, "max": 1797.0, "mean": 1797.0}
    assert model.speed_tolerance == 0.03  # the views' --speed_change
    path = write_cwru_mat(tmp_path, "IR021", 0, 209, simulated("IR021"), rpm=1797)
    (recorded,) = diagnose([path], sim_model)
    assert recorded["rpm"] == 1797 and recorded["warnings"] == []
    (inside,) = diagnose([path], sim_model, rpm=1797 * 0.975)
    assert inside["warnings"] == ["--rpm 1752.08 used; the file records 1797 rpm"]
    (slow,) = diagnose([path], sim_model, rpm=1500)
    assert slow["rpm"] == 1500 and slow["verdict"] != "rejected"
    (warning,) = [w for w in slow["warnings"] if "shaft speed" in w]
    assert "1500 rpm is 16.5% from the training speeds (1797-1797 rpm" in warning


def test_channels_by_name_or_count(sim_model: Path, tmp_path: Path):
    fault = simulated("IR021")
    csv = _write_csv(tmp_path / "named.csv", np.stack([0.1 * fault, fault], axis=1), "FE,DE")
    (by_name,) = diagnose([csv], sim_model, sample_rate_hz=12_000)
    assert by_name["verdict"] == "inner_race"  # the DE column, though it comes second
    variable = _write_mat(tmp_path / "bench.mat", accel=fault, other=np.zeros(9))
    (by_variable,) = diagnose([variable], sim_model, sample_rate_hz=12_000, variable="accel")
    assert by_variable["verdict"] == "inner_race"


def test_json_output_has_every_documented_key(sim_model: Path, tmp_path: Path, capsys):
    good = save_npy(tmp_path, "inner_race.npy", simulated("IR021"))
    dead = save_npy(tmp_path, "dead.npy", np.zeros(12_000))
    args = ["diagnose", str(good), str(dead), "--ckpt", str(sim_model), "--json"]
    assert main([*args, "--sample_rate_hz", "12000"]) == 3
    lines = capsys.readouterr().out.strip().splitlines()
    diagnosed, rejected = (json.loads(line) for line in lines)
    assert set(diagnosed) == RESULT_KEYS == set(rejected)
    assert diagnosed["rejection"] is None and len(diagnosed["window_classes"]) == 11
    assert set(rejected["rejection"]) == {"reason", "message", "problems"}
    assert rejected["rejection"]["problems"][0]["channel"] == 0


def test_text_output_lists_windows(sim_model: Path, tmp_path: Path, capsys):
    good = save_npy(tmp_path, "inner_race.npy", simulated("IR021"))
    args = ["diagnose", str(good), "--ckpt", str(sim_model), "--windows"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("window @") == 11 and "ood " in out
    assert "warning: sample rate unknown" in out


# ------------------------------------------------------------------ model files


def _uncalibrated_model(path: Path) -> Path:
    """A model.pt as written before calibration existed: no ood, speeds or tolerance."""
    torch.manual_seed(0)
    spec = make_spec("mlp", "fft", 1, SIM_WINDOW)
    save_diagnosis_model(
        path, build_classifier(spec, 3).eval(), spec, class_names=["normal", "IR007", "B007"],
        sample_rate_hz=12_000, window_length=SIM_WINDOW, stride=SIM_WINDOW, channels=["DE"],
        normalization={"mean": [0.0], "std": [1.0]},
    )  # fmt: skip
    payload = torch.load(path, weights_only=True)
    for key in ("ood", "training_rpm", "speed_tolerance"):
        del payload[key]
    torch.save(payload, path)
    return path


def test_model_without_calibration_gives_its_guess_with_a_warning(tmp_path: Path):
    model = _uncalibrated_model(tmp_path / "old.pt")
    assert load_diagnosis_model(model).ood is None
    path = save_npy(tmp_path, "noise.npy", np.random.default_rng(2).standard_normal(5_000))
    (result,) = diagnose([path], model, sample_rate_hz=12_000, rpm=1500)
    assert result["verdict"] == result["best_guess"] and result["thresholds"] is None
    assert result["window_ood_scores"] is None and result["ood_score"] is None
    assert any("no out-of-distribution calibration" in w for w in result["warnings"])
    assert any("stores no training shaft speed" in w for w in result["warnings"])


def test_model_file_holds_plain_data_only(sim_model: Path):
    payload = torch.load(sim_model, weights_only=True)
    assert payload["class_names"] == CLASSES_4 and payload["window_length"] == SIM_WINDOW
    assert payload["ood"]["format"] == "contrastlab-ood-1"
    detector = OodDetector.from_dict(payload["ood"])
    assert detector.score_quantile == 0.99 and detector.confidence_quantile == 0.01
    assert payload["trained_on"]["load_hp"] == [0]


def run_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["diagnose", *args]) == 2
    return capsys.readouterr().err


def test_bad_options_and_model_files_stop_the_call(sim_model: Path, tmp_path: Path, capsys):
    good = str(save_npy(tmp_path, "x.npy", simulated("IR021")))
    assert "not found" in run_error(capsys, good, "--ckpt", str(tmp_path / "absent.pt"))
    checkpoint = tmp_path / "last.pth"
    torch.save({"model": {}, "epoch": 3}, checkpoint)
    err = run_error(capsys, good, "--ckpt", str(checkpoint))
    assert "not a contrastlab diagnosis model" in err
    assert "--ckpt is required" in run_error(capsys, good)
    assert "--sample_rate_hz must be in" in run_error(
        capsys, good, "--ckpt", str(sim_model), "--sample_rate_hz", "0"
    )
    assert "--stride must be in" in run_error(
        capsys, good, "--ckpt", str(sim_model), "--stride", "0"
    )
