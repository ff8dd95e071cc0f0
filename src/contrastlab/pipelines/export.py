"""``contrastlab export``: a trained network as deployable files, ONNX and TorchScript.

The network: one part (``--part encoder | projection | classifier``) of any checkpoint
:func:`~contrastlab.evaluation.trained_model.load_trained_model` reads, with its input normalisation
inside, so the files take what a user has: images as float32 ``[B, C, size, size]`` in [0, 1],
signals as float32 ``[B, C, window_length]`` windows as recorded (see there).

Files, written atomically into the run directory (``--out``) after they were checked:

- ``<part>.onnx``: exported with ``torch.onnx.export(dynamo=True)`` (torch.export, then ONNX
  through onnxscript), checked in ONNX Runtime against PyTorch on a random batch
  (``|onnx - torch| <= 1e-4 + 1e-4 |torch|``); needs ``pip install 'contrastlab[export]'``;
- ``<part>.pt``: TorchScript from ``torch.jit.trace`` (``torch.jit.load`` reads it without
  contrastlab), checked the same way;
- ``summary.json``: the input and output names and shapes, the normalisation, sample rate,
  window length and class names, the largest difference of each file from PyTorch.

Batch size: fixed at ``--batch_size`` unless ``--dynamic_batch``, where the batch dimension is
symbolic (and checked at another batch size than the example's).

What does not export: a network whose ``forward`` reads tensor values on the host (an ``if`` on a
value, ``float(tensor)``) cannot be traced by torch.export; the error says which part failed and
why. The spectral front-ends (``--input fft | envelope``) use ``torch.fft`` (complex
intermediates): the dynamo exporter turns them into ONNX's DFT operator; the older TorchScript-based
ONNX exporter cannot (``aten::fft_rfft`` unsupported) and is not used.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contrastlab.config.deploy import ExportConfig
from contrastlab.evaluation.trained_model import TrainedModel, load_trained_model
from contrastlab.training.provenance import provenance
from contrastlab.training.run_directory import atomic_write, claimed_run, usable_run_path

TOLERANCE = 1e-4
"""Absolute and relative tolerance of the check of an exported file against PyTorch."""
EXPORT_EXTRA = "pip install 'contrastlab[export]'"
OUTPUT_NAMES = {"encoder": "features", "projection": "projections", "classifier": "logits"}
INPUT_NAMES = {"image": "images", "signal": "windows"}


def require_onnx() -> None:
    """ImportError naming the extra when onnx, onnxscript or onnxruntime is missing."""
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError as error:
            raise ImportError(
                f"ONNX export needs {module} (with onnx, onnxscript and onnxruntime): "
                f"{EXPORT_EXTRA}"
            ) from error


def example_input(model: TrainedModel, batch_size: int, seed: int) -> torch.Tensor:
    """A random float32 batch of the network's input: images uniform in [0, 1], signals normal."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, *model.input_shape)
    if model.modality == "image":
        return torch.rand(shape, generator=generator)
    return torch.randn(shape, generator=generator)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]


@contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Silence the exporters' progress lines, tracer and deprecation warnings (the checks below
    compare the results instead)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_bytes(
    network: nn.Module, example: torch.Tensor, dynamic_batch: bool, input_name: str, output: str
) -> bytes:
    """The ONNX model of ``network`` on ``example``'s shape (batch symbolic with
    ``dynamic_batch``); ValueError naming the cause when torch.export cannot trace it."""
    import onnx

    dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    try:
        with _quiet_exporters():
            program = torch.onnx.export(
                network, (example,), dynamo=True, dynamic_shapes=dynamic_shapes,
                input_names=[input_name], output_names=[output], verbose=False,
            )  # fmt: skip
    except Exception as error:  # the exporter raises its own types for every stage
        cause = error.__cause__ or error
        hint = (
            ": its forward reads a tensor value on the host (a value check or an `if` on "
            "data), which torch.export cannot trace; --formats torchscript still works"
            if "data-dependent" in str(error) or "data-dependent" in str(cause)
            else ""
        )
        raise ValueError(
            f"cannot export to ONNX ({type(error).__name__}: {_first_line(error)}){hint}"
        ) from error
    stream = io.BytesIO()
    onnx.save_model(program.model_proto, stream)
    return stream.getvalue()


def run_onnx(model_bytes: bytes, inputs: torch.Tensor) -> np.ndarray:
    """``model_bytes`` run in ONNX Runtime (CPU) on ``inputs``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: inputs.numpy()})[0]


def torchscript_bytes(network: nn.Module, example: torch.Tensor) -> bytes:
    """``network`` traced on ``example`` (``torch.jit.trace``) and saved."""
    with _quiet_exporters():
        try:
            traced = torch.jit.trace(network, (example,), check_trace=False)
        except Exception as error:  # the tracer raises RuntimeError and others
            raise ValueError(f"cannot trace to TorchScript: {_first_line(error)}") from error
        stream = io.BytesIO()
        torch.jit.save(traced, stream)
    return stream.getvalue()


def run_torchscript(model_bytes: bytes, inputs: torch.Tensor) -> np.ndarray:
    """The saved TorchScript module run on ``inputs``."""
    with _quiet_exporters():
        module = torch.jit.load(io.BytesIO(model_bytes), map_location="cpu")
        with torch.no_grad():
            return module(inputs).numpy()


def checked_difference(
    name: str, run: Callable[[bytes, torch.Tensor], np.ndarray], model_bytes: bytes,
    network: nn.Module, inputs: torch.Tensor,
) -> float:  # fmt: skip
    """The largest ``|exported - torch|`` on ``inputs``; ValueError past :data:`TOLERANCE`."""
    with torch.no_grad():
        expected = network(inputs).numpy()
    try:
        found = run(model_bytes, inputs)
    except Exception as error:  # the runtimes raise their own types
        raise ValueError(
            f"the exported {name} file fails on a batch of {inputs.shape[0]}: {_first_line(error)}"
        ) from error
    if found.shape != expected.shape or not np.allclose(
        found, expected, atol=TOLERANCE, rtol=TOLERANCE
    ):
        difference = (
            float(np.abs(found - expected).max()) if found.shape == expected.shape else None
        )
        raise ValueError(
            f"the exported {name} file does not reproduce PyTorch's outputs (shape "
            f"{found.shape} vs {expected.shape}, largest difference {difference})"
        )
    return float(np.abs(found - expected).max())


def _io_description(
    model: TrainedModel, part: str, output_shape: tuple[int, ...], batch: int | str
) -> dict[str, Any]:
    meaning = (
        "RGB (or gray) images in [0, 1], float32; normalised inside with mean / std"
        if model.modality == "image"
        else "windows as recorded, float32; standardised inside with the training statistics "
        "when the checkpoint records them (normalization)"
    )
    return {
        "input": {
            "name": INPUT_NAMES[model.modality],
            "shape": [batch, *model.input_shape],
            "meaning": meaning,
        },
        "output": {"name": OUTPUT_NAMES[part], "shape": [batch, *output_shape[1:]]},
    }


def export(config: ExportConfig) -> dict[str, Any]:
    """Export ``config.part`` of ``config.ckpt`` (module docstring); returns the summary."""
    model = load_trained_model(config.ckpt)
    network = model.part(config.part, config.ckpt)
    name = Path(config.ckpt).resolve().parent.name or "model"
    path = usable_run_path(
        config.out, f"export-{name}", None, config.overwrite, inputs=(config.ckpt,),
        resumable=False,
    )  # fmt: skip
    if "onnx" in config.formats:
        require_onnx()
    if config.threads:
        torch.set_num_threads(config.threads)
    # torch.export specialises a dimension of size 1: a symbolic batch needs an example of 2+.
    batch = max(config.batch_size, 2) if config.dynamic_batch else config.batch_size
    example = example_input(model, batch, config.seed)
    check = example_input(model, batch + 3, config.seed + 1) if config.dynamic_batch else example
    with torch.no_grad():
        output_shape = tuple(network(example).shape)
    input_name, output_name = INPUT_NAMES[model.modality], OUTPUT_NAMES[config.part]
    files: dict[str, bytes] = {}
    differences: dict[str, float] = {}
    if "onnx" in config.formats:
        files[f"{config.part}.onnx"] = data = onnx_bytes(
            network, example, config.dynamic_batch, input_name, output_name
        )
        differences["onnx"] = checked_difference("ONNX", run_onnx, data, network, check)
    if "torchscript" in config.formats:
        files[f"{config.part}.pt"] = data = torchscript_bytes(network, example)
        differences["torchscript"] = checked_difference(
            "TorchScript", run_torchscript, data, network, check
        )
    batch_dimension = "batch" if config.dynamic_batch else config.batch_size
    with claimed_run(path, None, config.overwrite, inputs=(config.ckpt,)) as run:
        for file_name, data in files.items():
            atomic_write(run / file_name, lambda stream, data=data: stream.write(data))
        summary = {
            "checkpoint": str(config.ckpt),
            "kind": model.kind,
            "part": config.part,
            "files": list(files),
            **_io_description(model, config.part, output_shape, batch_dimension),
            "max_abs_difference": differences,
            "facts": model.facts,
        }
        run.write_summary(summary, provenance("cpu", config.seed))
    return summary
