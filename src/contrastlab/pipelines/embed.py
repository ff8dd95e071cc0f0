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

Rows are in file order (and window order within a file). The rows are gathered in memory before
they are written: ``N x (D + P) x 4`` bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

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
from contrastlab.training.run_directory import (
    RunDirectory,
    atomic_write,
    atomic_write_text,
    claimed_run,
    usable_run_path,
)

# One batch of samples: (network input [b, ...] float32 on the CPU, labels, file names, starts).
Batch = tuple[torch.Tensor, list[int], list[str], list[int] | None]


@dataclass
class Rows:
    """What ``embed`` writes, gathered batch by batch."""

    embeddings: list[np.ndarray] = field(default_factory=list)
    projections: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    starts: list[int] | None = None

    def columns(self) -> dict[str, np.ndarray | list[str]]:
        """The rows as named columns (``projection`` and ``window_start`` when present)."""
        columns: dict[str, np.ndarray | list[str]] = {
            "file": self.files,
            "label": np.asarray(self.labels, dtype=np.int64),
            "embedding": np.concatenate(self.embeddings).astype(np.float32),
        }
        if self.projections:
            columns["projection"] = np.concatenate(self.projections).astype(np.float32)
        if self.starts is not None:
            columns["window_start"] = np.asarray(self.starts, dtype=np.int64)
        return columns


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
def _encode(
    batches: Iterator[Batch], model: TrainedModel, projection: bool, device: torch.device
) -> Rows:
    encoder = model.parts["encoder"].to(device)
    head = model.parts["projection"].to(device) if projection else None
    rows = Rows()
    for inputs, labels, files, starts in batches:
        inputs = inputs.to(device)
        rows.embeddings.append(encoder(inputs).float().cpu().numpy())
        if head is not None:
            rows.projections.append(head(inputs).float().cpu().numpy())
        rows.labels.extend(labels)
        rows.files.extend(files)
        if starts is not None:
            rows.starts = [] if rows.starts is None else rows.starts
            rows.starts.extend(starts)
    if not rows.embeddings:
        raise ValueError("nothing to embed: every file was left out")
    return rows


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda stream: np.save(stream, array))


def write_rows(run: RunDirectory, rows: Rows, file_format: str) -> list[str]:
    """Write ``rows`` in ``file_format`` (module docstring); returns the file names."""
    columns = rows.columns()
    if file_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                name: pa.array(list(values))
                if isinstance(values, np.ndarray) and values.ndim == 2
                else pa.array(values)
                for name, values in columns.items()
            }
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        atomic_write(run / "embeddings.parquet", lambda stream: stream.write(buffer.getvalue()))
        return ["embeddings.parquet"]
    names = {"embedding": "embeddings.npy", "projection": "projections.npy"}
    names.update(label="labels.npy", window_start="window_starts.npy")
    for column, name in names.items():
        if column in columns:
            _save_npy(run / name, np.asarray(columns[column]))
    atomic_write_text(run / "files.txt", "".join(f"{name}\n" for name in columns["file"]))
    return [names[c] for c in names if c in columns] + ["files.txt"]


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
        rows = _encode(batches, model, config.projection, device)
        written = write_rows(run, rows, config.format)
        columns = rows.columns()
        summary: dict[str, Any] = {
            "checkpoint": str(config.ckpt),
            "kind": model.kind,
            "rows": len(rows.files),
            "embedding_dim": int(columns["embedding"].shape[1]),
            "files": written,
            "source": {k: v for k, v in source.items() if k not in ("class_names", "skipped")},
            "class_names": list(source["class_names"]),
        }
        if config.projection:
            summary["projection_dim"] = int(columns["projection"].shape[1])
        if source.get("skipped"):
            summary["skipped_files"] = sorted(source["skipped"])
        run.write_summary(summary, provenance(device, config.seed))
    return summary
