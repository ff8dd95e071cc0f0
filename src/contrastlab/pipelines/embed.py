"""``contrastlab embed``: the features a trained network gives a data set, as files.

The network: any checkpoint :func:`~contrastlab.evaluation.trained_model.load_trained_model` reads.
The data:

- images: a folder (``<class>/<image>``, or any tree with ``--labels none``), each image resized
  to the network's size as in evaluation, decoded by ``--workers`` DataLoader processes; or a
  built-in set (``--dataset digits|cifar10|cifar100``) and ``--split`` (its loader's split with
  seed 0);
- signals: a folder of recordings (``.npy``, ``.csv``, ``.wav``, ``.mat``; ``<class>/<file>`` or
  any tree with ``--labels none``; :func:`~contrastlab.data.signal_folder.list_recordings`), each
  cut into windows of the network's length every ``--stride`` samples (default: adjacent
  windows). The recordings' rate (``.wav``: their own, else ``--sample_rate_hz``) must equal the
  network's when it records one.

Outputs, written atomically into the run directory (``--out``):

- ``--format npy``: ``embeddings.npy`` float32 ``[N, D]`` (the encoder's features), with
  ``--projection`` ``projections.npy`` ``[N, P]``; ``labels.npy`` int64 ``[N]`` (the class index,
  -1 without labels); ``files.txt`` (N lines: the file of each row, relative to the folder, or
  ``<dataset>/<split>/<index>``); for signals ``window_starts.npy`` int64 ``[N]`` (the first
  sample of each window);
- ``--format parquet``: ``embeddings.parquet``, one row per sample with the same columns (needs
  pyarrow);
- ``summary.json``: the checkpoint, the data, the row count and dimensions, the class names and
  the files left out (``--on_bad_file skip``).

Rows are in file order (and window order within a file). They are written as they are encoded,
so memory does not grow with N: each batch is appended to temporary files in the run directory
(``.npy`` files whose header, written first, is rewritten with the row count at the end; Parquet
row groups gathered until they hold :data:`ROW_GROUP_BYTES` of features, so each but the last
holds that much or up to one batch more), which are synced and renamed to their
names once every batch is written. On any error the temporary files are removed and none of the
files above appears.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from contrastlab._atomic_files import atomic_stream
from contrastlab.config.deploy import EmbedConfig
from contrastlab.data.image_folder import list_image_files, warn_skipped
from contrastlab.data.image_sources import load_image_source
from contrastlab.data.image_stream_loader import BadFileLog, resized_batches
from contrastlab.data.recordings import RecordingError, read_recording
from contrastlab.data.signal_folder import list_recordings
from contrastlab.data.windows import sliding_windows
from contrastlab.evaluation.trained_model import TrainedModel, load_trained_model
from contrastlab.training.devices import resolve_device
from contrastlab.training.provenance import provenance
from contrastlab.training.run_directory import RunDirectory, claimed_run, usable_run_path

# One batch of samples: (network input [b, ...] float32 on the CPU, labels, file names, starts).
Batch = tuple[torch.Tensor, list[int], list[str], list[int] | None]
# One batch of rows by column: "file" (names), "label" int64 [b], "embedding" float32 [b, D],
# with --projection "projection" float32 [b, P], for signals "window_start" int64 [b].
Columns = dict[str, Any]

NPY_FILES = {
    "embedding": "embeddings.npy",
    "projection": "projections.npy",
    "label": "labels.npy",
    "window_start": "window_starts.npy",
}
FEATURES = ("embedding", "projection")
# A Parquet row group gathers batches until their features reach this size (then it is written).
ROW_GROUP_BYTES = 64 * 2**20


def _image_batches(config: EmbedConfig, model: TrainedModel) -> tuple[Iterator[Batch], dict]:
    size = config.size or model.facts["size"]
    channels = model.input_shape[0]
    if config.dataset is not None:
        data = load_image_source(config.dataset, data_dir=config.cifar_folder, size=size, seed=0)
        split = getattr(data, config.split)
        if len(split) == 0:
            raise ValueError(f"the {config.split} split of {config.dataset} is empty")
        if split.inputs.shape[1] != channels:
            raise ValueError(
                f"{config.dataset} has {split.inputs.shape[1]} channel(s), the network takes "
                f"{channels}"
            )

        def built_in() -> Iterator[Batch]:
            for start in range(0, len(split), config.batch_size):
                stop = min(start + config.batch_size, len(split))
                yield (
                    split.inputs[start:stop].float() / 255.0,
                    split.labels[start:stop].tolist(),
                    [f"{config.dataset}/{config.split}/{i}" for i in range(start, stop)],
                    None,
                )

        source = {"dataset": config.dataset, "split": config.split, "samples": len(split)}
        return built_in(), {**source, "class_names": data.class_names}
    listing = list_image_files(config.data_folder, config.labels)
    bad_files = BadFileLog(config.on_bad_file, listing.root)

    def folder() -> Iterator[Batch]:
        for images, labels, found in resized_batches(
            listing, size, config.batch_size, config.workers, config.on_bad_file,
            progress=config.progress, bad_files=bad_files, channels=channels,
        ):  # fmt: skip
            names = [str(listing.files[i].relative_to(listing.root)) for i in found.tolist()]
            yield images.float() / 255.0, labels.tolist(), names, None
        if bad_files.seen:
            warn_skipped(list(bad_files.seen), listing.root)

    source = {"data_folder": str(listing.root), "files": len(listing), "size": size}
    return folder(), {
        **source,
        "class_names": listing.class_names,
        "skipped": bad_files.seen,
    }


def _recording_windows(
    path: Path, config: EmbedConfig, model: TrainedModel, stride: int
) -> np.ndarray:
    """The windows ``[n, C, L]`` of one recording; RecordingError for a problem of the file."""
    channels = model.facts.get("channels") or None
    options: dict[str, Any] = {"layout": config.layout} if path.suffix in (".npy", ".mat") else {}
    if path.suffix == ".mat":
        options.update(variable=config.variable)
        if config.variable is None and channels:
            options["channels"] = channels
    recording = read_recording(path, **options)
    rate = recording.sample_rate_hz or config.sample_rate_hz
    if rate is None:
        raise ValueError(f"{path} does not store its sample rate: pass --sample_rate_hz")
    model_rate = model.facts.get("sample_rate_hz")
    if model_rate is not None and abs(rate - model_rate) > 1e-6 * model_rate:
        raise RecordingError(
            f"{path} is sampled at {rate:g} Hz, the network at {model_rate:g} Hz: resample it"
        )
    expected_channels, length = model.input_shape
    if recording.n_channels != expected_channels:
        raise RecordingError(
            f"{path} has {recording.n_channels} channel(s), the network takes {expected_channels}"
        )
    if recording.n_samples < length:
        raise RecordingError(
            f"{path} has {recording.n_samples} samples, fewer than one window of {length}"
        )
    return sliding_windows(recording.signal, length, stride)


def _signal_batches(config: EmbedConfig, model: TrainedModel) -> tuple[Iterator[Batch], dict]:
    if config.dataset is not None:
        raise ValueError(f"{config.ckpt} is a signal network: give --data_folder of recordings")
    listing = list_recordings(config.data_folder, config.labels)
    root = Path(config.data_folder)
    stride = config.stride or model.input_shape[1]
    skipped: dict[str, str] = {}

    def recordings() -> Iterator[Batch]:
        files = zip(listing.files, listing.labels, strict=True)
        for path, label in tqdm(
            list(files), desc="recordings", disable=None if config.progress else True, leave=False
        ):
            try:
                windows = _recording_windows(path, config, model, stride)
            except RecordingError as error:
                if config.on_bad_file == "error":
                    raise
                skipped[str(path)] = str(error)
                continue
            name = str(path.relative_to(root))
            for start in range(0, len(windows), config.batch_size):
                chunk = windows[start : start + config.batch_size]
                starts = [(start + i) * stride for i in range(len(chunk))]
                count = len(chunk)
                inputs = torch.from_numpy(chunk.astype(np.float32))
                yield inputs, [label] * count, [name] * count, starts
        if skipped:
            warn_skipped(list(skipped), root)

    source = {
        "data_folder": str(root),
        "files": len(listing.files),
        "stride": stride,
        "window_length": model.input_shape[1],
    }
    return recordings(), {**source, "class_names": listing.class_names, "skipped": skipped}


@torch.no_grad()
def _encoded(
    batches: Iterator[Batch], model: TrainedModel, projection: bool, device: torch.device
) -> Iterator[Columns]:
    """The rows of each batch (:data:`Columns`), one batch at a time."""
    encoder = model.parts["encoder"].to(device)
    head = model.parts["projection"].to(device) if projection else None
    for inputs, labels, files, starts in batches:
        inputs = inputs.to(device)
        columns: Columns = {
            "file": files,
            "label": np.asarray(labels, dtype=np.int64),
            "embedding": encoder(inputs).float().cpu().numpy(),
        }
        if head is not None:
            columns["projection"] = head(inputs).float().cpu().numpy()
        if starts is not None:
            columns["window_start"] = np.asarray(starts, dtype=np.int64)
        yield columns


class NpyRows:
    """An ``.npy`` file of ``dtype`` rows shaped ``row_shape`` filled block by block: at the end it
    holds the bytes ``np.save`` writes for the blocks concatenated (``[N, *row_shape]``), without
    ever holding them together.

    The header is written for 0 rows at once and rewritten in place with N by :meth:`finish`:
    numpy (>= 1.24) pads the header for up to 21 digits of the first dimension, so its length
    does not depend on N.
    """

    def __init__(self, stream: IO[bytes], dtype: np.dtype, row_shape: tuple[int, ...]) -> None:
        self.stream, self.dtype, self.row_shape = stream, np.dtype(dtype), tuple(row_shape)
        self.rows = 0
        header = self._header()
        self.header_length = len(header)
        stream.write(header)

    def _header(self) -> bytes:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.rows, *self.row_shape),
        }
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        return buffer.getvalue()

    def append(self, block: np.ndarray) -> None:
        """Append ``block [b, *row_shape]`` (converted to ``dtype``)."""
        if tuple(block.shape[1:]) != self.row_shape:
            raise ValueError(f"rows of shape {block.shape[1:]} for a file of {self.row_shape}")
        self.stream.write(np.ascontiguousarray(block, dtype=self.dtype).data)
        self.rows += len(block)

    def finish(self) -> None:
        """Write the header with the row count over the first one."""
        header = self._header()
        if len(header) != self.header_length:
            raise RuntimeError(
                f"numpy {np.__version__} does not pad .npy headers for growth: needs numpy>=1.24"
            )
        self.stream.seek(0)
        self.stream.write(header)


class _NpySink:
    """``--format npy``: one :class:`NpyRows` per column of :data:`NPY_FILES` and ``files.txt``,
    each an :func:`atomic_stream` entered on ``stack``; each batch is flushed to them."""

    def __init__(self, run: RunDirectory, stack: ExitStack) -> None:
        self.run, self.stack = run, stack
        self.arrays: dict[str, NpyRows] = {}
        self.streams: list[IO[bytes]] = []

    def _open(self, name: str) -> IO[bytes]:
        self.streams.append(self.stack.enter_context(atomic_stream(self.run / name)))
        return self.streams[-1]

    def append(self, columns: Columns) -> None:
        if not self.streams:
            for column, name in NPY_FILES.items():
                if column in columns:
                    first = columns[column]
                    self.arrays[column] = NpyRows(self._open(name), first.dtype, first.shape[1:])
            self._open("files.txt")
        for column, rows in self.arrays.items():
            rows.append(columns[column])
        self.streams[-1].write("".join(f"{name}\n" for name in columns["file"]).encode("utf-8"))
        for stream in self.streams:
            stream.flush()

    def finish(self) -> list[str]:
        for rows in self.arrays.values():
            rows.finish()
        _synced(self.streams)
        return [NPY_FILES[column] for column in self.arrays] + ["files.txt"]


def _synced(streams: list[IO[bytes]]) -> None:
    """Flush and sync every stream, so that once the last batch is written, renaming the
    temporary files is all that is left (a full disk fails before any file appears)."""
    for stream in streams:
        stream.flush()
        os.fsync(stream.fileno())


def _arrow_table(columns: Columns) -> Any:
    """``columns`` as a ``pyarrow.Table``: a feature matrix ``[b, D]`` becomes a ``list<float>``
    column (the type ``pa.array`` gives a list of rows), the others plain columns."""
    import pyarrow as pa

    arrays = {}
    for name, values in columns.items():
        if name in FEATURES:
            offsets = np.arange(0, values.size + 1, values.shape[1], dtype=np.int32)
            arrays[name] = pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))
        else:
            arrays[name] = pa.array(values)
    return pa.table(arrays)


class _ParquetSink:
    """``--format parquet``: ``embeddings.parquet`` written by a ``pyarrow.parquet.ParquetWriter``
    into an :func:`atomic_stream` (both entered on ``stack``), a row group written whenever the
    pending batches reach :data:`ROW_GROUP_BYTES` of features (the last: the rest)."""

    def __init__(self, run: RunDirectory, stack: ExitStack) -> None:
        self.path, self.stack = run / "embeddings.parquet", stack
        self.pending: list[Columns] = []
        self.pending_bytes = 0
        self.writer: Any = None
        self.stream: IO[bytes] | None = None

    def append(self, columns: Columns) -> None:
        self.pending.append(columns)
        self.pending_bytes += sum(columns[name].nbytes for name in FEATURES if name in columns)
        if self.pending_bytes >= ROW_GROUP_BYTES:
            self._write_row_group()

    def _write_row_group(self) -> None:
        import pyarrow.parquet as pq

        first = self.pending[0]
        table = _arrow_table({
            name: [file for batch in self.pending for file in batch[name]]
            if name == "file"
            else np.concatenate([batch[name] for batch in self.pending])
            for name in first
        })  # fmt: skip
        self.pending, self.pending_bytes = [], 0
        if self.writer is None:
            self.stream = self.stack.enter_context(atomic_stream(self.path))
            self.writer = self.stack.enter_context(pq.ParquetWriter(self.stream, table.schema))
        self.writer.write_table(table, row_group_size=table.num_rows)
        self.stream.flush()

    def finish(self) -> list[str]:
        if self.pending:
            self._write_row_group()
        self.writer.close()  # the footer
        _synced([self.stream])
        return [self.path.name]


@dataclass
class Written:
    """What :func:`write_rows` wrote: the file names, the row count N and the width of each
    feature (``{"embedding": D, "projection": P}``)."""

    files: list[str]
    rows: int
    widths: dict[str, int]


def write_rows(run: RunDirectory, batches: Iterator[Columns], file_format: str) -> Written:
    """Write the rows of ``batches`` in ``file_format`` (module docstring) as they come: memory
    holds one batch (npy), or one row group's batches and, while it is written, their Arrow
    table (parquet: about twice :data:`ROW_GROUP_BYTES`). The files are filled as temporary
    files in ``run`` and renamed to their names after the last batch; on any error (in
    ``batches`` too) the temporary files are removed and no file appears. ValueError when
    ``batches`` is empty."""
    with ExitStack() as stack:
        sink = (_ParquetSink if file_format == "parquet" else _NpySink)(run, stack)
        rows, widths = 0, {}
        for columns in batches:
            widths = widths or {
                name: columns[name].shape[1] for name in FEATURES if name in columns
            }
            sink.append(columns)
            rows += len(columns["file"])
        if not rows:
            raise ValueError("nothing to embed: every file was left out")
        files = sink.finish()
    return Written(files, rows, widths)


def _require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "--format parquet needs pyarrow: pip install pyarrow (or use --format npy)"
        ) from error


def embed(config: EmbedConfig) -> dict[str, Any]:
    """Embed the data of ``config`` (module docstring); returns the summary."""
    model = load_trained_model(config.ckpt)
    name = Path(config.ckpt).resolve().parent.name or "model"
    inputs = (config.ckpt, config.data_folder, config.cifar_folder)
    path = usable_run_path(
        config.out, f"embed-{name}", None, config.overwrite, inputs=inputs, resumable=False
    )
    if config.projection:
        model.part("projection", config.ckpt)
    if config.format == "parquet":
        _require_pyarrow()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    load = _image_batches if model.modality == "image" else _signal_batches
    batches, source = load(config, model)
    with claimed_run(path, None, config.overwrite, inputs=inputs) as run:
        written = write_rows(
            run, _encoded(batches, model, config.projection, device), config.format
        )
        summary: dict[str, Any] = {
            "checkpoint": str(config.ckpt),
            "kind": model.kind,
            "rows": written.rows,
            "embedding_dim": written.widths["embedding"],
            "files": written.files,
            "source": {k: v for k, v in source.items() if k not in ("class_names", "skipped")},
            "class_names": list(source["class_names"]),
        }
        if config.projection:
            summary["projection_dim"] = written.widths["projection"]
        if source.get("skipped"):
            summary["skipped_files"] = sorted(source["skipped"])
        run.write_summary(summary, provenance(device, config.seed))
    return summary
