"""The GPU benchmark scripts run as they are (a GPU session gets one short try): a tiny CPU run of
``benchmarks/gpu_supcon.py`` fills every section of its report, a failing row is recorded and the
run goes on, rows past ``--deadline`` are listed as skipped, and ``benchmarks/gpu_loss.py``'s
``contrastlab-dense-eager`` cell keeps compilation off in its backward too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from contrastlab.losses import _compiled, _logsumexp
from contrastlab.losses._compiled import CompiledOnCuda

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = [
    *("--device", "cpu", "--batch-size", "4", "--steps", "1", "--loss-batch-sizes", "16"),
    *("--no-compile", "--no-reference"),
]  # fmt: skip


def run_benchmark(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "report.json"
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_supcon.py"), *TINY, *extra, "--out", str(out)],
        check=True, capture_output=True, text=True, timeout=300, env=environment,
    )  # fmt: skip
    return json.loads(out.read_text())


@pytest.mark.slow
def test_a_tiny_cpu_run_fills_every_section_and_records_a_failing_row(tmp_path: Path) -> None:
    report = run_benchmark(tmp_path, "--models", "smallcnn", "nosuchnet")
    rows = {row["row"] for row in report["training"]}
    assert rows == {"network alone smallcnn", "contrastlab smallcnn"}
    assert all(row["images_per_s"] > 0 for row in report["training"])
    assert set(report["phases"]) == {"smallcnn"}
    assert sum(report["phases"]["smallcnn"].values()) == pytest.approx(1.0)
    assert {row["implementation"] for row in report["augmentation"]} >= {"batched"}
    assert all(row["median_ms"] > 0 for row in report["loss"])
    assert len(report["errors"]) == 3  # network, contrastlab and phases of the unknown model
    assert all("unknown encoder 'nosuchnet'" in error for error in report["errors"])
    assert report["skipped"] == []


@pytest.mark.slow
def test_rows_that_would_start_after_the_deadline_are_listed_as_skipped(tmp_path: Path) -> None:
    report = run_benchmark(tmp_path, "--models", "smallcnn", "--deadline", "0")
    assert report["training"] == [] and report["loss"] == []
    assert report["skipped"][:3] == ["augmentation", "loss B=16", "network smallcnn"]


def test_the_dense_eager_loss_cell_compiles_neither_forward_nor_backward(monkeypatch) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import gpu_loss
    finally:
        sys.path.remove(str(BENCHMARKS))
    compiled_calls: list[str] = []

    def recording_compile(function, **kwargs):
        def run(*args):
            compiled_calls.append(function.__name__)
            return function(*args)

        return run

    # as on CUDA: the environment variable decides, read when each core runs
    monkeypatch.setattr(
        _compiled,
        "compile_enabled",
        lambda device: os.environ.get(_compiled.COMPILE_VARIABLE, "1") != "0",
    )
    monkeypatch.setattr(torch, "compile", recording_compile)
    for name in ("_DENSE_EXPONENTIALS", "_DENSE_BACKWARD"):
        core = getattr(_logsumexp, name)
        monkeypatch.setattr(_logsumexp, name, CompiledOnCuda(core.function))
    features, labels = gpu_loss._inputs(16, torch.device("cpu"))
    gpu_loss._step("contrastlab-dense-eager", features, labels)()
    assert compiled_calls == []
    gpu_loss._step("contrastlab-dense", features, labels)()
    assert compiled_calls == ["_dense_exponentials", "_dense_backward"]


def test_a_rows_warnings_are_marked_in_its_table_line(tmp_path: Path) -> None:
    import warnings

    sys.path.insert(0, str(BENCHMARKS))
    try:
        import gpu_supcon
    finally:
        sys.path.remove(str(BENCHMARKS))
    report = {"device": "cpu", "torch": "x", "batch_size": 2, "steps": 1, "training": [],
              "phases": {}, "augmentation": [], "loss": [], "errors": [], "skipped": [],
              "warnings": {}, "seconds": 0.0}  # fmt: skip
    run = gpu_supcon.Run(report, deadline=60, out=tmp_path / "report.json")

    def measure() -> dict:
        warnings.warn("compile fell back", RuntimeWarning, stacklevel=1)
        return {"row": "network alone m compiled", "images_per_s": 10.0, "ms_per_step": 1.0}

    run.training(measure, "network m compiled")
    run.training(lambda: {"row": "contrastlab m", "images_per_s": 5.0, "ms_per_step": 2.0}, "c")
    table = gpu_supcon.markdown(report)
    assert "| network alone m compiled (warned, see below) | 10 |" in table
    assert "| contrastlab m | 5 |" in table
    assert "- network alone m compiled: RuntimeWarning: compile fell back" in table
    assert json.loads((tmp_path / "report.json").read_text())["training"] == report["training"]
