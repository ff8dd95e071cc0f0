"""SupCon on one GPU: ResNet-18 training throughput (bf16 autocast, channels_last) and the loss
alone against the matmul floor. Synthetic CIFAR-shaped data, no downloads, a few minutes at most.

    python benchmarks/gpu_supcon.py                                  # cuda, batch 1024
    python benchmarks/gpu_supcon.py --out gpu_supcon.json
    python benchmarks/gpu_supcon.py --device cpu --batch-size 32 --steps 2 --loss-batch-sizes 256

On CPU the precision defaults to float32: CPUs without bfloat16 units emulate it, about 25x slower
(a 32-image ResNet-18 step took 127 s in bf16 against ~5 s in float32 on the project's machine).

**Training step** (what ``contrastlab pretrain --model resnet18 --precision bf16-mixed`` runs per
batch): two random augmentations of each 32x32 uint8 image on the device (kornia: crop, flip,
colour jitter, grayscale, normalisation), SupConResNet-18 (CIFAR stem, MLP head, 128-d) in
channels_last under bf16 autocast, SupCon over the 2B views (float32 inside), backward, SGD with
momentum. Reported: images/s and views/s over ``--steps`` timed steps after ``--warmup`` steps, the
share of the step spent in the augmentation, and peak device memory.

**Loss alone.** SupCon forward + backward on random unit features [B, 2, 128] (10 classes, float32)
with ``memory='dense'`` and ``memory='blocked'``, against the matmul floor (S = Z Z^T, then
dS Z and dS^T Z: the least an exact implementation computes); fastest of ``--repeats``, and the peak
memory each adds (CUDA: ``max_memory_allocated``). TF32 is left off, so every kernel does float32
matmuls.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from contrastlab.data.image_augment import ContrastiveImageAugment
from contrastlab.losses import supcon_loss
from contrastlab.models.supcon_resnet import SupConResNet

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> int:
    """Reset the peak counter; return the memory allocated now (bytes; 0 off CUDA)."""
    if device.type != "cuda":
        return 0
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device)


def peak_since(device: torch.device, baseline: int) -> float | None:
    if device.type != "cuda":
        return None
    synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - baseline) / 2**20


def timed(device: torch.device, function: Callable[[], object]) -> float:
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - start


def benchmark_training(args: argparse.Namespace, device: torch.device) -> dict:
    generator = torch.Generator(device="cpu").manual_seed(0)
    images = torch.randint(
        0, 256, (args.batch_size, 3, 32, 32), dtype=torch.uint8, generator=generator
    )
    labels = torch.randint(0, 10, (args.batch_size,), generator=generator)
    images, labels = images.to(device), labels.to(device)
    model = SupConResNet("resnet18", head="mlp", feat_dim=128, stem="cifar").to(device)
    model = model.to(memory_format=torch.channels_last)
    augment = ContrastiveImageAugment(32, CIFAR_MEAN, CIFAR_STD).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    autocast_dtype = torch.bfloat16 if args.precision == "bf16-mixed" else None

    def make_views() -> torch.Tensor:
        views = torch.cat([augment(images), augment(images)])  # [2B, 3, 32, 32], view-major
        return views.contiguous(memory_format=torch.channels_last)

    def step(views: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            projections = model(views)
            features = projections.view(2, args.batch_size, -1).transpose(0, 1)
            loss = supcon_loss(features, labels, temperature=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    for _ in range(args.warmup):
        step(make_views())
    baseline = reset_peak(device)
    augment_seconds, step_seconds, losses = 0.0, 0.0, []
    views: list[torch.Tensor] = []
    for _ in range(args.steps):
        augment_seconds += timed(device, lambda: views.append(make_views()))
        step_seconds += timed(device, lambda: losses.append(step(views.pop())))
    total = augment_seconds + step_seconds
    final_loss = float(losses[-1])
    if not torch.isfinite(torch.tensor(final_loss)):
        raise RuntimeError(f"the loss became {final_loss}")
    return {
        "batch_size": args.batch_size,
        "steps": args.steps,
        "precision": args.precision,
        "images_per_s": args.steps * args.batch_size / total,
        "views_per_s": 2 * args.steps * args.batch_size / total,
        "ms_per_step": 1000 * total / args.steps,
        "augment_share": augment_seconds / total,
        "peak_memory_mb": peak_since(device, baseline),
        "final_loss": final_loss,
    }


def loss_cells(batch_size: int, device: torch.device) -> dict[str, Callable[[], None]]:
    """The three timed functions for one batch size: floor, dense and blocked SupCon."""
    generator = torch.Generator(device="cpu").manual_seed(1)
    features = F.normalize(torch.randn(batch_size, 2, 128, generator=generator), dim=2)
    features = features.to(device).requires_grad_(True)
    labels = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
    flat = features.detach().transpose(0, 1).reshape(2 * batch_size, 128)

    def floor() -> None:
        similarity = flat @ flat.T
        _ = similarity @ flat
        _ = similarity.T @ flat

    def loss(memory: str) -> Callable[[], None]:
        def run() -> None:
            features.grad = None
            supcon_loss(features, labels, temperature=0.1, memory=memory).backward()

        return run

    return {"floor": floor, "dense": loss("dense"), "blocked": loss("blocked")}


def benchmark_loss(args: argparse.Namespace, device: torch.device) -> list[dict]:
    rows = []
    for batch_size in args.loss_batch_sizes:
        cells = loss_cells(batch_size, device)
        result: dict = {"batch_size": batch_size, "n": 2 * batch_size}
        for name, function in cells.items():
            try:
                function()  # warm-up (kernels, allocator)
                baseline = reset_peak(device)
                seconds = min(timed(device, function) for _ in range(args.repeats))
            except torch.cuda.OutOfMemoryError:  # the [N, N] kernels on a small GPU
                result[f"{name}_ms"] = result[f"{name}_peak_mb"] = None
                torch.cuda.empty_cache()
                continue
            result[f"{name}_ms"] = 1000 * seconds
            result[f"{name}_peak_mb"] = peak_since(device, baseline)
        for name in ("dense", "blocked"):
            both = result[f"{name}_ms"] is not None and result["floor_ms"] is not None
            result[f"{name}_x_floor"] = result[f"{name}_ms"] / result["floor_ms"] if both else None
        rows.append(result)
        print(f"  B={batch_size:6d}: {json.dumps(result)}", flush=True)
    return rows


def _time_text(row: dict, name: str) -> str:
    if row[f"{name}_ms"] is None:
        return "out of memory"
    ratio = row.get(f"{name}_x_floor")
    return f"{row[f'{name}_ms']:.2f}" + ("" if ratio is None else f" (x{ratio:.2f})")


def markdown(training: dict, loss_rows: list[dict], device_name: str) -> str:
    memory = training["peak_memory_mb"]
    lines = [
        f"Device: {device_name}.",
        "",
        "| SupCon ResNet-18 step | batch | images/s | views/s | ms/step | augmentation | peak MB |",
        "|:---|---:|---:|---:|---:|---:|---:|",
        f"| {training['precision']}, channels_last | {training['batch_size']} "
        f"| {training['images_per_s']:.0f} | {training['views_per_s']:.0f} "
        f"| {training['ms_per_step']:.1f} | {100 * training['augment_share']:.0f}% "
        f"| {'-' if memory is None else f'{memory:.0f}'} |",
        "",
        "| B (per view) | floor ms | dense ms (x floor) | blocked ms (x floor) "
        "| floor / dense / blocked peak MB |",
        "|---:|---:|---:|---:|:---|",
    ]
    for row in loss_rows:
        peaks = [row[f"{name}_peak_mb"] for name in ("floor", "dense", "blocked")]
        peak_text = " / ".join("-" if peak is None else f"{peak:.0f}" for peak in peaks)
        cells = [_time_text(row, name) for name in ("floor", "dense", "blocked")]
        lines.append(f"| {row['batch_size']} | {' | '.join(cells)} | {peak_text} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 3; 1 on CPU)")
    parser.add_argument(
        "--precision",
        choices=("bf16-mixed", "32"),
        help="default bf16-mixed on CUDA, 32 on CPU",
    )
    parser.add_argument(
        "--loss-batch-sizes", type=int, nargs="+", default=[1024, 4096, 16384, 32768]
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per loss cell")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.precision is None:
        args.precision = "bf16-mixed" if device.type == "cuda" else "32"
    if args.warmup is None:
        args.warmup = 3 if device.type == "cuda" else 1
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: pass --device cpu for a smoke test")
        torch.backends.cudnn.benchmark = True
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = (
            f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
        )
    started = time.perf_counter()
    training = benchmark_training(args, device)
    print(f"  training: {training['images_per_s']:.0f} images/s", flush=True)
    loss_rows = benchmark_loss(args, device)
    report = markdown(training, loss_rows, device_name)
    print(report)
    print(f"total {time.perf_counter() - started:.0f} s, torch {torch.__version__}")
    if args.out:
        args.out.write_text(
            json.dumps({"device": device_name, "training": training, "loss": loss_rows}, indent=2)
        )


if __name__ == "__main__":
    main()
