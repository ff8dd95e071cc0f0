"""``contrastlab embed`` streams its rows: the files equal an in-test reference (the checkpoint's
networks run on all the inputs at once, concatenated by hand) whatever the batching, no more
than one batch of rows is alive at a time, and a failed run leaves no file of its rows behind."""

from __future__ import annotations

import io
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab.cli import main
from contrastlab.data.image_folder import read_image
from contrastlab.evaluation.trained_model import load_trained_model
from contrastlab.models.signal_spec import build_projection_network, make_spec
from contrastlab.pipelines import embed as embed_module
from contrastlab.pipelines.embed import NpyRows
from contrastlab.training.checkpoint import save_checkpoint

MEAN, STD = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
SIZE = 8
WINDOW, STRIDE, RATE_HZ = 32, 24, 100.0
RECORDINGS = {"a/r1.npy": 160, "b/r2.npy": 75, "b/r3.npy": 40}  # 6, 2 and 1 windows
NPY_NAMES = {"embedding": "embeddings.npy", "projection": "projections.npy",
             "label": "labels.npy", "window_start": "window_starts.npy"}  # fmt: skip


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory) -> tuple[Path, Path, torch.nn.Module]:
    """A signal SimCLR checkpoint (raw windows, encoder + projection head) and 3 recordings."""
    root = tmp_path_factory.mktemp("signal")
    spec = make_spec("mlp", "raw", 1, WINDOW, feat_dim=8)
    torch.manual_seed(0)
    network = build_projection_network(spec).eval()
    state = {"model": network.state_dict(), "model_spec": spec, "kind": "signal-simclr"}
    save_checkpoint(root / "last.pth", {**state, "config": {"method": "simclr"}})
    generator = np.random.default_rng(1)
    for name, length in RECORDINGS.items():
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / "data" / name, generator.normal(size=length))
    return root / "last.pth", root / "data", network


def _image_reference(images: Path, network: torch.nn.Module) -> dict:
    """Every image of the folder (sorted by class, then name) through the network in one go."""
    files = sorted(str(path.relative_to(images)) for path in images.rglob("*.png"))
    pixels = torch.from_numpy(np.stack([read_image(images / name, SIZE) for name in files]))
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    normalised = (pixels.float() / 255.0 - mean) / std
    with torch.no_grad():
        embedding, projection = network.encoder(normalised), network(normalised)
    labels = [0 if name.startswith("a/") else 1 for name in files]
    return {"file": files, "label": np.array(labels, dtype=np.int64),
            "embedding": embedding.numpy(), "projection": projection.numpy()}  # fmt: skip


def _signal_reference(data: Path, network: torch.nn.Module) -> dict:
    """Every window (every STRIDE samples) of every recording through the network in one go."""
    files, labels, starts, windows = [], [], [], []
    for name in sorted(RECORDINGS):
        signal = np.load(data / name)
        for start in range(0, len(signal) - WINDOW + 1, STRIDE):
            files.append(name)
            labels.append(0 if name.startswith("a/") else 1)
            starts.append(start)
            windows.append(signal[start : start + WINDOW])
    inputs = torch.from_numpy(np.stack(windows)[:, None].astype(np.float32))
    with torch.no_grad():
        embedding, projection = network.encoder(inputs), network(inputs)
    return {"file": files, "label": np.array(labels, dtype=np.int64),
            "embedding": embedding.numpy(), "projection": projection.numpy(),
            "window_start": np.array(starts, dtype=np.int64)}  # fmt: skip


def _embed_args(modality: str, run: tuple, out: Path, batch_size: int) -> list[str]:
    checkpoint, data, _ = run
    signal = ["--sample_rate_hz", str(RATE_HZ), "--stride", str(STRIDE)]
    return ["embed", "--ckpt", str(checkpoint), "--data_folder", str(data), "--projection",
            "--workers", "0", "--batch_size", str(batch_size), "--out", str(out),
            "--no-progress", *(signal if modality == "signal" else [])]  # fmt: skip


def _saved(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _check_npy(out: Path, expected: dict) -> None:
    for column, name in NPY_NAMES.items():
        if column not in expected:
            assert not (out / name).exists()
            continue
        found = np.load(out / name)
        assert (out / name).read_bytes() == _saved(found)  # exactly what np.save writes
        assert found.dtype == expected[column].dtype and found.shape == expected[column].shape
        if column in ("embedding", "projection"):
            np.testing.assert_allclose(found, expected[column], atol=1e-5)
        else:
            assert np.array_equal(found, expected[column])
    assert (out / "files.txt").read_text() == "".join(f"{name}\n" for name in expected["file"])


def _check_parquet(out: Path, expected: dict, row_groups: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The table the gathered rows made: a list of rows for a feature matrix, one file at once.
    reference = pa.table({
        name: pa.array(list(values)) if name in ("embedding", "projection") else pa.array(values)
        for name, values in expected.items()
    })  # fmt: skip
    buffer = io.BytesIO()
    pq.write_table(reference, buffer)
    reference = pq.read_table(io.BytesIO(buffer.getvalue()))
    found = pq.ParquetFile(out / "embeddings.parquet")
    assert found.num_row_groups == row_groups
    table = found.read()
    assert table.schema.equals(reference.schema, check_metadata=True)
    for name, values in expected.items():
        column = table.column(name).to_pylist()
        if name in ("embedding", "projection"):
            np.testing.assert_allclose(np.array(column, dtype=np.float32), values, atol=1e-5)
        else:
            assert column == list(values)


@pytest.mark.parametrize("file_format", ["npy", "parquet"])
@pytest.mark.parametrize("modality", ["image", "signal"])
def test_streamed_rows_equal_the_rows_encoded_at_once(
    modality, file_format, image_run, signal_run, tmp_path, monkeypatch
) -> None:
    if file_format == "parquet":
        pytest.importorskip("pyarrow")
    run = image_run if modality == "image" else signal_run
    expected = (_image_reference if modality == "image" else _signal_reference)(run[1], run[2])
    if modality == "signal":
        del expected["projection"]  # without --projection
    # 7 images: 3 + 3 + 1; 9 windows in batches within a recording: 4 + 2 (r1), 2 (r2), 1 (r3)
    batch_size, batches = (3, 3) if modality == "image" else (4, 4)
    # One row group per batch: the smallest batch's features reach the chunk size.
    monkeypatch.setattr(embed_module, "ROW_GROUP_BYTES", 1)
    out = tmp_path / "embed"
    args = _embed_args(modality, run, out, batch_size)
    if modality == "signal":
        args.remove("--projection")
    assert main([*args, "--format", file_format]) == 0
    if file_format == "npy":
        _check_npy(out, expected)
    else:
        _check_parquet(out, expected, row_groups=batches)
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_parquet_row_groups_gather_batches_until_the_chunk_size(image_run, tmp_path) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "embed"
    assert main([*_embed_args("image", image_run, out, 2), "--format", "parquet"]) == 0
    _check_parquet(out, _image_reference(image_run[1], image_run[2]), row_groups=1)


class _TrackedEncoder(torch.nn.Module):
    """The encoder, with a weak reference to each output's memory (a numpy array the returned
    tensor shares) and, before each batch, how many outputs are alive and the size of the
    embeddings' temporary file."""

    def __init__(self, encoder: torch.nn.Module, out: Path) -> None:
        super().__init__()
        self.encoder, self.out = encoder, out
        self.outputs: list[weakref.ref] = []
        self.alive_before: list[int] = []
        self.temporary_sizes: list[list[int]] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.alive_before.append(sum(ref() is not None for ref in self.outputs))
        temporaries = self.out.glob(".embeddings.*.tmp")
        self.temporary_sizes.append([path.stat().st_size for path in temporaries])
        features = self.encoder(inputs).numpy().copy()
        self.outputs.append(weakref.ref(features))
        return torch.from_numpy(features)


@pytest.mark.parametrize("file_format", ["npy", "parquet"])
def test_one_batch_of_rows_is_held_and_each_reaches_its_file_before_the_next(
    file_format, image_run, tmp_path, monkeypatch
) -> None:
    """Fails when the rows are gathered before they are written: then every earlier output is
    alive at the last batch and no temporary file exists yet."""
    if file_format == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / "embed"
    tracked: list[_TrackedEncoder] = []

    def load(path):
        model = load_trained_model(path)
        tracked.append(_TrackedEncoder(model.parts["encoder"], out))
        model.parts["encoder"] = tracked[-1]
        return model

    monkeypatch.setattr(embed_module, "load_trained_model", load)
    monkeypatch.setattr(embed_module, "ROW_GROUP_BYTES", 1)
    args = _embed_args("image", image_run, out, batch_size=2)  # 7 images: 4 batches
    assert main([*args, "--format", file_format]) == 0
    (encoder,) = tracked
    assert encoder.alive_before == [0, 1, 1, 1]
    sizes = encoder.temporary_sizes
    assert sizes[0] == [] and all(len(found) == 1 for found in sizes[1:])
    if file_format == "npy":  # exactly the rows so far, as np.save writes them
        width = np.load(out / "embeddings.npy").shape[1]
        expected = [len(_saved(np.zeros((rows, width), np.float32))) for rows in (2, 4, 6)]
        assert [found[0] for found in sizes[1:]] == expected
    else:  # a row group more each time
        assert sizes[1][0] < sizes[2][0] < sizes[3][0]


@pytest.mark.parametrize("file_format", ["npy", "parquet"])
def test_an_error_after_some_batches_leaves_no_file_of_the_run(
    file_format, signal_run, tmp_path, monkeypatch, capsys
) -> None:
    """A bad recording after the good ones, with --on_bad_file error: the run fails after its
    first batches reached temporary files; those are removed. A folder the run created is removed
    (the run directory's rule); a given empty folder keeps only the run marker."""
    if file_format == "parquet":
        pytest.importorskip("pyarrow")
    checkpoint, data, network = signal_run
    folder = tmp_path / "data"
    for name in RECORDINGS:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((data / name).read_bytes())
    np.save(folder / "b" / "z-bad.npy", np.zeros((3, 100)))  # 2-D without --layout: unreadable
    monkeypatch.setattr(embed_module, "ROW_GROUP_BYTES", 1)
    temporaries_at_the_error: list[list[str]] = []
    read_windows = embed_module._recording_windows

    def windows(path, config, model, stride):
        if path.name == "z-bad.npy":
            temporaries = Path(config.out).glob(".*.tmp")
            temporaries_at_the_error.append(sorted(p.name.split(".")[1] for p in temporaries))
        return read_windows(path, config, model, stride)

    monkeypatch.setattr(embed_module, "_recording_windows", windows)
    given = tmp_path / "given"
    given.mkdir()
    for out in (tmp_path / "new", given):
        args = _embed_args("signal", (checkpoint, folder, network), out, batch_size=2)
        assert main([*args, "--format", file_format]) == 2
        assert "z-bad.npy" in capsys.readouterr().err
    streamed = {"npy": ["embeddings", "files", "labels", "projections", "window_starts"],
                "parquet": ["embeddings"]}[file_format]  # fmt: skip
    assert temporaries_at_the_error == [streamed, streamed]
    assert not (tmp_path / "new").exists()
    assert sorted(path.name for path in given.iterdir()) == [".contrastlab-run"]


@pytest.mark.parametrize(
    "blocks",
    [[(2, 3), (1, 3), (4, 3)], [(5,), (2,)], [(1, 2, 2)], [(6, 3), (5, 3)], [(3,), (99_997,)]],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_npy_rows_writes_what_np_save_writes(blocks, dtype) -> None:
    generator = np.random.default_rng(0)
    arrays = [generator.normal(size=shape).astype(dtype) for shape in blocks]
    stream = io.BytesIO()
    rows = NpyRows(stream, np.dtype(dtype), arrays[0].shape[1:])
    for array in arrays:
        rows.append(array)
    rows.finish()
    assert stream.getvalue() == _saved(np.concatenate(arrays))


def test_npy_rows_refuses_rows_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"rows of shape \(4,\) for a file of \(3,\)"):
        NpyRows(io.BytesIO(), np.dtype(np.float32), (3,)).append(np.zeros((2, 4)))
