"""Speed of the training augmentation: two views of a batch of uint8 CIFAR-shaped images.

What ``MultiView(ContrastiveImageAugment, n_views=2)`` runs per training step: two calls on the
same batch ``[B, 3, size, size]`` uint8 (already on the device), each returning normalised float
views. Timed per implementation and batch size: the median wall time of the two calls over
``--repeats`` repeats after one warm-up (the device synchronised before and after each repeat),
as ms per 2 x B views and images/s (each image with its 2 views).

Implementations (SupContrast's recipe: crop scale (0.2, 1), flip, jitter 0.4/0.4/0.4/0.1 with
p 0.8, grayscale p 0.2):

* ``batched``: ``ContrastiveImageAugment``, one jitter order per batch (the default);
* ``batched, order per sample``: ``jitter_order="sample"``, torchvision's per-image order;
* ``batched, crop=False``: flip, jitter, grayscale and normalisation only, for batches that
  DataLoader workers have already cropped;
* ``batched, order per sample, compiled`` (``--compile``): the same with ``transform`` under
  ``torch.compile`` (parameters still drawn eagerly; compilation happens in the warm-up);
* ``kornia``: the kornia pipeline this library used before (only when kornia is installed).

    python benchmarks/augment.py                                # cuda when available, B 256, 1024
    python benchmarks/augment.py --device cpu --batch-sizes 64 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from contrastlab.data.image_augment import ChannelNormalize, ContrastiveImageAugment, to_unit_float
from contrastlab.training.devices import resolve_device

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
N_VIEWS = 2


class KorniaAugment(nn.Module):
    """The kornia pipeline of SupContrast's recipe (what ``ContrastiveImageAugment`` was)."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        import kornia.augmentation as K

        self.augment = nn.Sequential(
            K.RandomResizedCrop((size, size), scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)),
            K.RandomHorizontalFlip(p=0.5),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
        )
        self.normalize = ChannelNormalize(mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.augment(to_unit_float(x, 3)))


class CompiledTransform(nn.Module):
    """``augment``'s parameters drawn eagerly, its ``transform`` compiled."""

    def __init__(self, augment: ContrastiveImageAugment) -> None:
        super().__init__()
        self.augment = augment
        self.transform = torch.compile(augment.transform, dynamic=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = to_unit_float(x, 3)
        batch, _, height, width = images.shape
        parameters = self.augment.sample_parameters(batch, height, width, images.device)
        return self.augment.normalize(self.transform(images, parameters))


def implementations(size: int, compile_transform: bool) -> dict[str, nn.Module]:
    """The timed augmentations by name (kornia only when it is installed)."""
    found: dict[str, nn.Module] = {
        "batched": ContrastiveImageAugment(size, CIFAR_MEAN, CIFAR_STD),
        "batched, order per sample": ContrastiveImageAugment(
            size, CIFAR_MEAN, CIFAR_STD, jitter_order="sample"
        ),
        "batched, crop=False": ContrastiveImageAugment(size, CIFAR_MEAN, CIFAR_STD, crop=False),
    }
    if compile_transform:
        found["batched, order per sample, compiled"] = CompiledTransform(
            ContrastiveImageAugment(size, CIFAR_MEAN, CIFAR_STD, jitter_order="sample")
        )
    with contextlib.suppress(ImportError):  # kornia is no dependency of contrastlab
        found["kornia"] = KorniaAugment(size, CIFAR_MEAN, CIFAR_STD)
    return found


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(call: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``call()`` over ``repeats`` calls after one warm-up call."""
    call()
    _synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def augmentation_rows(
    device: torch.device | str,
    batch_sizes: Sequence[int] = (256, 1024),
    repeats: int = 20,
    *,
    size: int = 32,
    compile_transform: bool = False,
    seed: int = 0,
) -> list[dict]:
    """One row per implementation and batch size: ``implementation``, ``device``,
    ``batch_size``, ``ms_per_2_views`` (median ms of the 2 calls), ``images_per_s`` (B / that
    time) and ``views_per_s``."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for name, augment in implementations(size, compile_transform).items():
        augment = augment.to(device)
        for batch_size in batch_sizes:
            images = torch.randint(
                0, 256, (batch_size, 3, size, size), dtype=torch.uint8, generator=generator
            ).to(device)

            def two_views(augment: nn.Module = augment, images: torch.Tensor = images) -> None:
                for _ in range(N_VIEWS):
                    augment(images)

            seconds = median_seconds(two_views, repeats, device)
            rows.append(
                {
                    "implementation": name,
                    "device": str(device),
                    "batch_size": batch_size,
                    "ms_per_2_views": 1000 * seconds,
                    "images_per_s": batch_size / seconds,
                    "views_per_s": N_VIEWS * batch_size / seconds,
                }
            )
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    lines = [
        f"| implementation | device | B | ms per {N_VIEWS} x B views | images/s |",
        "|:---|:---|---:|---:|---:|",
    ]
    lines += [
        f"| {row['implementation']} | {row['device']} | {row['batch_size']} | "
        f"{row['ms_per_2_views']:.3f} | {row['images_per_s']:,.0f} |"
        for row in rows
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument(
        "--compile", action="store_true", help="also time the torch.compile'd transform"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or min(args.batch_sizes) < 1 or args.size < 1:
        parser.error("need --repeats >= 1, --batch-sizes >= 1 and --size >= 1")
    return args


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    rows = augmentation_rows(
        device, args.batch_sizes, args.repeats, size=args.size, compile_transform=args.compile
    )
    print(
        f"torch {torch.__version__}, device {device}, median of {args.repeats} repeats, "
        f"{args.size}x{args.size} uint8 RGB"
    )
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
