"""``contrastlab embed`` and ``contrastlab export`` on small image and signal networks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab.cli import main
from contrastlab.data.digits import load_digits_splits
from contrastlab.data.image_folder import read_image
from contrastlab.models.diagnosis_model import save_diagnosis_model
from contrastlab.models.image_network import (
    build_ce_network,
    build_pretrain_network,
    image_model_spec,
)
from contrastlab.models.signal_spec import build_classifier, build_projection_network, make_spec
from contrastlab.training.checkpoint import save_checkpoint

MEAN, STD = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
RATE_HZ = 1000.0
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
WINDOW = 64


def _image_spec(channels: int = 3, mean: list[float] = MEAN, std: list[float] = STD) -> dict:
    metadata = {"in_channels": channels, "mean": mean, "std": std}
    return image_model_spec("smallcnn", "cifar", "mlp", 16, 8, metadata, ["a", "b"], "folder",
                            None, 0)  # fmt: skip


def _normalised(images: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> (x / 255 - mean) / std, written out here as the reference."""
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean_t) / std_t


def test_embed_an_image_folder(image_run, tmp_path: Path) -> None:
    checkpoint, images, network = image_run
    out = tmp_path / "embed"
    assert main(["embed", "--ckpt", str(checkpoint), "--data_folder", str(images),
                 "--projection", "--workers", "1", "--batch_size", "3", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    files = (out / "files.txt").read_text().splitlines()
    assert files == sorted(files) and len(files) == 7 and files[0].startswith("a/")
    pixels = torch.from_numpy(np.stack([read_image(images / f, 8) for f in files]))
    with torch.no_grad():
        expected = network.encoder(_normalised(pixels, MEAN, STD))
        projected = network(_normalised(pixels, MEAN, STD))
    assert np.allclose(np.load(out / "embeddings.npy"), expected.numpy(), atol=1e-5)
    assert np.allclose(np.load(out / "projections.npy"), projected.numpy(), atol=1e-5)
    assert np.load(out / "labels.npy").tolist() == [0 if f.startswith("a/") else 1 for f in files]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 7 and summary["embedding_dim"] == expected.shape[1]


def test_embed_writes_one_parquet_table(image_run, tmp_path: Path) -> None:
    parquet = pytest.importorskip("pyarrow.parquet")
    checkpoint, images, _ = image_run
    npy, table = tmp_path / "npy", tmp_path / "table"
    for out, extra in ((npy, []), (table, ["--format", "parquet"])):
        assert main(["embed", "--ckpt", str(checkpoint), "--data_folder", str(images),
                     "--labels", "none", "--workers", "0", "--out", str(out), "--no-progress",
                     *extra]) == 0  # fmt: skip
    rows = parquet.read_table(table / "embeddings.parquet").to_pydict()
    assert rows["file"] == (npy / "files.txt").read_text().splitlines()
    assert rows["label"] == [-1] * 7
    assert np.allclose(np.array(rows["embedding"]), np.load(npy / "embeddings.npy"))


def test_embed_a_built_in_split(tmp_path: Path) -> None:
    spec = _image_spec(channels=1, mean=[0.3], std=[0.4])
    network = build_pretrain_network(spec).eval()
    checkpoint = tmp_path / "digits.pth"
    save_checkpoint(checkpoint, {"model": network.state_dict(), "model_spec": spec})
    out = tmp_path / "embed"
    assert main(["embed", "--ckpt", str(checkpoint), "--dataset", "digits", "--split", "val",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    split = load_digits_splits(size=8, seed=0).val
    with torch.no_grad():
        expected = network.encoder(_normalised(split.inputs, [0.3], [0.4]))
    assert np.allclose(np.load(out / "embeddings.npy"), expected.numpy(), atol=1e-5)
    assert np.array_equal(np.load(out / "labels.npy"), split.labels.numpy())
    assert (out / "files.txt").read_text().splitlines()[:2] == ["digits/val/0", "digits/val/1"]


def test_ce_checkpoints_embed_and_export_their_classifier(tmp_path: Path, capsys) -> None:
    spec = _image_spec()
    network = build_ce_network(spec).eval()
    checkpoint = tmp_path / "ce.pth"
    save_checkpoint(checkpoint, {"model": network.state_dict(), "model_spec": spec, "kind": "ce"})
    assert main(["export", "--ckpt", str(checkpoint), "--part", "classifier", "--formats",
                 "torchscript", "--out", str(tmp_path / "x")]) == 0  # fmt: skip
    scripted = torch.jit.load(str(tmp_path / "x" / "classifier.pt"))
    pixels = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    with torch.no_grad():
        expected = network(_normalised(pixels, MEAN, STD))
        assert torch.allclose(scripted(pixels.float() / 255.0), expected, atol=1e-5)
    capsys.readouterr()
    assert main(["export", "--ckpt", str(checkpoint), "--part", "projection",
                 "--out", str(tmp_path / "y")]) == 2  # fmt: skip
    assert "has no projection; it holds: encoder, classifier" in capsys.readouterr().err


def test_export_an_image_encoder_to_onnx_and_torchscript(image_run, tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    checkpoint, _, network = image_run
    for dynamic in (True, False):
        out = tmp_path / f"dynamic-{dynamic}"
        flags = ["--dynamic_batch"] if dynamic else ["--batch_size", "2"]
        assert main(["export", "--ckpt", str(checkpoint), "--out", str(out), *flags]) == 0
        images = torch.rand(5 if dynamic else 2, 3, 8, 8)
        with torch.no_grad():
            expected = network.encoder((images - torch.tensor(MEAN).view(1, 3, 1, 1))
                                       / torch.tensor(STD).view(1, 3, 1, 1)).numpy()  # fmt: skip
        session = onnxruntime.InferenceSession(str(out / "encoder.onnx"),
                                               providers=["CPUExecutionProvider"])  # fmt: skip
        assert [i.name for i in session.get_inputs()] == ["images"]
        found = session.run(None, {"images": images.numpy()})[0]
        np.testing.assert_allclose(found, expected, atol=1e-4)
        scripted = torch.jit.load(str(out / "encoder.pt"))
        np.testing.assert_allclose(scripted(images).detach().numpy(), expected, atol=1e-4)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["input"]["shape"] == ["batch" if dynamic else 2, 3, 8, 8]
        if not dynamic:
            with pytest.raises(Exception, match=r"(?i)dimension|shape"):  # fixed batch: 2 only
                session.run(None, {"images": torch.rand(3, 3, 8, 8).numpy()})


def test_missing_onnx_is_one_line_naming_the_extra(image_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript -> ImportError
    out = tmp_path / "refused"
    assert main(["export", "--ckpt", str(image_run[0]), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "pip install 'contrastlab[export]'" in error and len(error.strip().splitlines()) == 1
    assert not out.exists()


# ------------------------------------------------------------------------------------ signals


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory) -> tuple[Path, Path, torch.nn.Module, dict]:
    """A bearing-style model.pt (fft front-end, band MLP) and two class folders of .npy files."""
    root = tmp_path_factory.mktemp("signal")
    spec = make_spec("mlp", "fft", 1, WINDOW, feat_dim=8)
    torch.manual_seed(0)
    classifier = build_classifier(spec, 2).eval()
    normalization = {"mean": [0.1], "std": [2.0]}
    model = save_diagnosis_model(root / "model.pt", classifier, spec, ["ok", "fault"], RATE_HZ,
                                 WINDOW, WINDOW, ["ch0"], normalization)  # fmt: skip
    generator = np.random.default_rng(0)
    for name, length in (("ok/r1.npy", 200), ("fault/r2.npy", 130), ("fault/r3.npy", 64)):
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, generator.normal(size=length))
    return model, root / "data", classifier, normalization


def test_embed_recordings_window_by_window(signal_run, tmp_path: Path) -> None:
    model, data, classifier, normalization = signal_run
    out = tmp_path / "embed"
    assert main(["embed", "--ckpt", str(model), "--data_folder", str(data), "--sample_rate_hz",
                 str(RATE_HZ), "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    files = (out / "files.txt").read_text().splitlines()
    starts = np.load(out / "window_starts.npy")
    assert files == ["fault/r2.npy", "fault/r2.npy", "fault/r3.npy", "ok/r1.npy", "ok/r1.npy",
                     "ok/r1.npy"]  # fmt: skip
    assert starts.tolist() == [0, 64, 0, 0, 64, 128]
    pairs = zip(files, starts, strict=True)
    windows = np.stack([np.load(data / name)[start : start + WINDOW] for name, start in pairs])
    standardised = (windows[:, None] - normalization["mean"][0]) / normalization["std"][0]
    with torch.no_grad():
        expected = classifier.encoder(torch.from_numpy(standardised).float())
    assert np.allclose(np.load(out / "embeddings.npy"), expected.numpy(), atol=1e-5)
    assert np.load(out / "labels.npy").tolist() == [0, 0, 0, 1, 1, 1]


def test_embed_refuses_another_rate_and_skips_bad_recordings(signal_run, tmp_path, capsys):
    model, data, _, _ = signal_run
    args = ["embed", "--ckpt", str(model), "--data_folder", str(data), "--no-progress"]
    assert main([*args, "--sample_rate_hz", "2000", "--out", str(tmp_path / "a")]) == 2
    assert "sampled at 2000 Hz, the network at 1000 Hz" in capsys.readouterr().err
    broken = tmp_path / "data"
    for name in ("ok/r1.npy", "fault/r2.npy"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes((data / name).read_bytes())
    np.save(broken / "fault" / "matrix.npy", np.zeros((3, 100)))  # 2-D: no layout given
    args = ["embed", "--ckpt", str(model), "--data_folder", str(broken), "--no-progress",
            "--sample_rate_hz", str(RATE_HZ)]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    assert "matrix.npy" in capsys.readouterr().err
    with pytest.warns(UserWarning, match=r"skipped 1 .*matrix\.npy"):
        assert main([*args, "--on_bad_file", "skip", "--out", str(tmp_path / "c")]) == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["rows"] == 5 and summary["skipped_files"] == [str(broken / "fault/matrix.npy")]


def _value_checks_trace() -> bool:
    """Whether torch.export traces contrastlab's value checks (check_float_tensor skips them
    while exporting); until it does, the signal networks' ONNX export fails with a clear error."""
    from contrastlab._checks import check_float_tensor

    class Checked(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            check_float_tensor("x", x)
            return x + 1

    try:
        torch.export.export(Checked(), (torch.ones(2),))
    except Exception:
        return False
    return True


def test_export_a_bearing_classifier(signal_run, tmp_path: Path, capsys) -> None:
    model, _, classifier, normalization = signal_run
    out = tmp_path / "ts"
    assert main(["export", "--ckpt", str(model), "--part", "classifier", "--formats",
                 "torchscript", "--dynamic_batch", "--out", str(out)]) == 0  # fmt: skip
    windows = torch.randn(4, 1, WINDOW)
    with torch.no_grad():
        expected = classifier((windows - normalization["mean"][0]) / normalization["std"][0])
    scripted = torch.jit.load(str(out / "classifier.pt"))
    assert torch.allclose(scripted(windows), expected, atol=1e-5)
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    code = main(["export", "--ckpt", str(model), "--part", "classifier", "--formats", "onnx",
                 "--dynamic_batch", "--out", str(out)])  # fmt: skip
    if not _value_checks_trace():
        assert code == 2 and "--formats torchscript still works" in capsys.readouterr().err
        return
    assert code == 0
    session = onnxruntime.InferenceSession(str(out / "classifier.onnx"),
                                           providers=["CPUExecutionProvider"])  # fmt: skip
    found = session.run(None, {"windows": windows.numpy()})[0]
    np.testing.assert_allclose(found, expected.numpy(), atol=1e-4)


def test_a_signal_pretraining_checkpoint(tmp_path: Path) -> None:
    spec = make_spec("resnet1d", "raw", 1, WINDOW, feat_dim=8)
    network = build_projection_network(spec).eval()
    checkpoint = tmp_path / "last.pth"
    state = {"model": network.state_dict(), "model_spec": spec, "kind": "signal-simclr"}
    save_checkpoint(checkpoint, {**state, "config": {"method": "simclr"}})
    data = tmp_path / "data" / "x"
    data.mkdir(parents=True)
    np.save(data / "a.npy", np.random.default_rng(1).normal(size=WINDOW * 2))
    out = tmp_path / "embed"
    assert main(["embed", "--ckpt", str(checkpoint), "--data_folder", str(tmp_path / "data"),
                 "--labels", "none", "--sample_rate_hz", "100", "--projection",
                 "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    windows = torch.from_numpy(np.load(data / "a.npy").reshape(2, 1, WINDOW)).float()
    with torch.no_grad():
        assert np.allclose(np.load(out / "embeddings.npy"), network.encoder(windows), atol=1e-5)
        assert np.allclose(np.load(out / "projections.npy"), network(windows), atol=1e-5)
