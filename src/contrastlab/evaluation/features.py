"""Batched feature extraction with a frozen encoder, of one tensor or of a data source's splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from contrastlab._checks import check_int
from contrastlab.data.splits import DataSplits


def _module_device(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    inputs: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Encode ``inputs`` ([N, ...], e.g. images [N, C, H, W] or signals [N, C, L]) into [N, D].

    The encoder runs in eval mode (batch-norm running statistics, no dropout) without gradients, on
    ``batch_size`` samples at a time; every module's train/eval flag is restored afterwards, so a
    call in the middle of training changes nothing. Each batch is moved to ``device`` (default:
    the encoder's device), passed through ``transform`` (e.g. uint8 -> normalised float) and the
    encoder; outputs with more than two dimensions are flattened to [B, D]. The result is float32 on
    the device of ``inputs``. ``progress`` shows a tqdm bar.
    """
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 1 or inputs.shape[0] == 0:
        shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a non-empty [N, ...] tensor, got {shape}")
    check_int("batch_size", batch_size)
    device = _module_device(encoder) if device is None else torch.device(device)

    modes = {module: module.training for module in encoder.modules()}
    encoder.eval()
    try:
        chunks = []
        starts = range(0, inputs.shape[0], batch_size)
        for start in tqdm(starts, desc="features", disable=None if progress else True, leave=False):
            batch = inputs[start : start + batch_size].to(device, non_blocking=True)
            if transform is not None:
                batch = transform(batch)
            output = encoder(batch)
            if not isinstance(output, torch.Tensor) or output.dim() < 1:
                raise ValueError("encoder must return a tensor of shape [B, ...] for each batch")
            chunks.append(output.reshape(output.shape[0], -1).float().to(inputs.device))
    finally:
        for module, training in modes.items():
            module.training = training
    return torch.cat(chunks)


def encode_splits(
    encoder: nn.Module,
    data: DataSplits,
    batch_size: int = 256,
    splits: Sequence[str] = ("train", "val", "test"),
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Frozen features ``{split: [N_split, D]}`` of the named ``splits`` of ``data``:
    :func:`extract_features` of each split's inputs (``batch_size``, ``transform`` and ``progress``
    as there)."""
    return {
        name: extract_features(
            encoder,
            getattr(data, name).inputs,
            batch_size=batch_size,
            transform=transform,
            progress=progress,
        )
        for name in splits
    }
