"""SupCon on one GPU, side by side: contrastlab's training step against the SupContrast-style loop
and against the network alone, plus the augmentation and the loss on their own. Synthetic
CIFAR-shaped data, no downloads.

    python benchmarks/gpu_supcon.py --out gpu_supcon.json  # cuda, batch 1024, rows until 240 s
    python benchmarks/gpu_supcon.py --deadline 600         # every row (about 6 minutes)
    python benchmarks/gpu_supcon.py --device cpu --batch-size 16 --steps 2 --models resnet18 \\
        --loss-batch-sizes 256 --no-compile --no-reference   # a smoke test of the script

Order: the cheap rows that decide the most first (augmentation, the loss at B = 1024 and 4096,
then per model the eager rows: network alone, contrastlab, phase shares, the SupContrast-style
loop), then the compiled rows, then the loss at the large batch sizes. A row that would start
after ``--deadline`` seconds is skipped (listed under ``skipped``), so the run ends a row's time
after the deadline; a row that raises is recorded (``errors``) and the run goes on; the warnings a
row raised (e.g. a compiler falling back to eager) are kept with it. With ``--out`` the JSON
report is rewritten after every row, so a run cut short keeps what it measured.

Rows (images/s = training images per second, each with its 2 views; median-free: one timed
epoch of ``--steps`` steps after one untimed epoch, which also compiles):

* **contrastlab**: what ``contrastlab pretrain --method supcon --model M`` runs per step, through
  the library's own ``fit`` (bf16 autocast and channels_last by default on CUDA): two batched
  augmentations on the device, SupConResNet-M (CIFAR stem, MLP head, 128-d), SupCon over the 2B
  views, backward, SGD; eager and ``--compile``. Its ``epoch_seconds`` includes the reads the loop
  makes. Phase shares come from a second, instrumented pass (CUDA events between phases).
* **network alone** (the ceiling): forward + backward + SGD of the same network on ready views
  (bf16, channels_last), no augmentation, no loss (the mean square of the output instead).
* **SupContrast-style loop** (when torchvision is importable): torchvision's transforms in
  DataLoader workers (``TwoCropTransform``), the reference SupConLoss, fp32 and bf16 +
  channels_last, as SupContrast's ``main_supcon.py`` trains.

Then ``augmentation_rows`` of ``benchmarks/augment.py`` and ``loss_rows`` of
``benchmarks/gpu_loss.py`` (SupCon forward + backward against the matmul floor and the reference,
B = 1024 ... 32768 per view).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from augment import augmentation_rows
from contrastlab._atomic_files import atomic_write_json
from contrastlab.config.options import build_config
from contrastlab.config.training import TrainConfig
from contrastlab.data.image_augment import ContrastiveImageAugment
from contrastlab.losses import _logsumexp, supcon_loss
from contrastlab.methods import ContrastiveViewsMethod
from contrastlab.models.supcon_resnet import SupConResNet
from contrastlab.training.loop import fit
from gpu_loss import loss_rows, reference_supcon

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


class SyntheticBatches:
    """A BatchSource of ``steps`` batches of uint8 CIFAR-shaped images, already on the device."""

    def __init__(self, steps: int, batch_size: int, device: torch.device) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randint(
            0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8, generator=generator
        ).to(device)
        self.labels = torch.randint(0, 10, (batch_size,), generator=generator).to(device)
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps):
            yield self.images, self.labels


def _method() -> ContrastiveViewsMethod:
    augment = ContrastiveImageAugment(32, CIFAR_MEAN, CIFAR_STD)
    return ContrastiveViewsMethod(augment, method="supcon", temperature=0.1)


def contrastlab_row(model_name: str, compiled: bool, args: argparse.Namespace) -> dict:
    """Images/s of the library's own loop (``fit``), second epoch."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = SupConResNet(model_name, head="mlp", feat_dim=128, stem="cifar")
    config = build_config(
        TrainConfig,
        {
            "epochs": 2, "batch_size": args.batch_size, "learning_rate": 0.05,
            "device": args.device, "compile": compiled, "progress": False, "save_freq": 100,
            "print_freq": 10,
        },
    )  # fmt: skip
    reset_peak(device)
    with tempfile.TemporaryDirectory() as run_dir:
        result = fit(model, _method(), SyntheticBatches(args.steps, args.batch_size, device),
                     config, run_dir)  # fmt: skip
    seconds = result.history[-1]["epoch_seconds"]
    return {
        "row": f"contrastlab {model_name}" + (" --compile" if compiled else ""),
        "images_per_s": args.steps * args.batch_size / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
        "peak_memory_mb": peak_memory_mb(device),
        "final_loss": result.history[-1]["loss"],
    }


def phase_shares(model_name: str, args: argparse.Namespace) -> dict[str, float]:
    """Share of each phase of the eager step, timed with CUDA events (wall clock off CUDA)."""
    device = torch.device(args.device)
    model = SupConResNet(model_name, head="mlp", feat_dim=128, stem="cifar").to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    method = _method().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    batches = SyntheticBatches(1, args.batch_size, device)
    dtype = torch.bfloat16 if device.type == "cuda" else None
    totals = dict.fromkeys(("augmentation", "forward", "loss", "backward", "optimizer"), 0.0)

    def mark() -> object:
        if device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def elapsed(start: object, end: object) -> float:
        if device.type == "cuda":
            return start.elapsed_time(end) / 1000  # type: ignore[attr-defined]
        return end - start  # type: ignore[operator]

    for step in range(args.steps + 1):
        images, labels = next(batches.epoch(1))
        marks = [mark()]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            views = method.views(images)
            marks.append(mark())
            projections = model(views.flatten(0, 1)).view(args.batch_size, 2, -1)
            marks.append(mark())
            loss = supcon_loss(projections, labels, temperature=0.1)
            marks.append(mark())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(mark())
        optimizer.step()
        marks.append(mark())
        synchronize(device)
        if step == 0:
            continue  # warm-up
        for name, start, end in zip(totals, marks[:-1], marks[1:], strict=True):
            totals[name] += elapsed(start, end)
    total = sum(totals.values())
    return {name: value / total for name, value in totals.items()}


def network_alone_row(model_name: str, compiled: bool, args: argparse.Namespace) -> dict:
    """The ceiling: forward + backward + SGD on ready views, no augmentation, no loss."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = SupConResNet(model_name, head="mlp", feat_dim=128, stem="cifar").to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    network: nn.Module = torch.compile(model) if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    # NCHW views, as fit's augmentation gives them (the first convolution of the channels_last
    # network converts): the compiled rows then share one graph instead of recompiling for strides
    views = torch.randn(2 * args.batch_size, 3, 32, 32, device=device)
    dtype = torch.bfloat16 if device.type == "cuda" else None

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            output = network(views)
        optimizer.zero_grad(set_to_none=True)
        output.float().square().mean().backward()
        optimizer.step()

    for _ in range(3):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "row": f"network alone {model_name}" + (" compiled" if compiled else ""),
        "images_per_s": args.steps * args.batch_size / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
    }


class TwoCrops(torch.utils.data.Dataset):
    """SupContrast's ``TwoCropTransform`` over uint8 images ``[N, 32, 32, 3]``: two transformed
    views of each image and a label. At module level, so that workers started by ``spawn`` or
    ``forkserver`` (Python 3.14's default on Linux) can unpickle it."""

    def __init__(self, images: object, transform: Callable) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[list[torch.Tensor], int]:
        from PIL import Image

        image = Image.fromarray(self.images[index])  # type: ignore[index]
        return [self.transform(image), self.transform(image)], index % 10


def supcontrast_row(model_name: str, bf16: bool, args: argparse.Namespace) -> dict | None:
    """SupContrast's main_supcon loop: torchvision transforms in DataLoader workers."""
    try:
        from torchvision import transforms
    except Exception:  # not installed, or built for another torch (RuntimeError at import)
        return None
    import numpy as np

    device = torch.device(args.device)
    normalize = transforms.Normalize(CIFAR_MEAN, CIFAR_STD)
    transform = transforms.Compose([
        transforms.RandomResizedCrop(size=32, scale=(0.2, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.ToTensor(),
        normalize,
    ])  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (8192, 32, 32, 3), dtype=np.uint8)
    workers = min(15, max(1, (os.cpu_count() or 2) - 1))
    loader = torch.utils.data.DataLoader(
        TwoCrops(images, transform), batch_size=args.batch_size, shuffle=True,
        num_workers=workers, pin_memory=device.type == "cuda", drop_last=True,
        persistent_workers=True, timeout=120,  # a stuck worker raises instead of hanging
    )  # fmt: skip
    model = SupConResNet(model_name, head="mlp", feat_dim=128, stem="cifar").to(device)
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    dtype = torch.bfloat16 if bf16 else None

    def batches() -> Iterator:
        while True:
            yield from loader

    source = batches()

    def step() -> None:
        (first, second), labels = next(source)
        views = torch.cat([first, second]).to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if bf16:
            views = views.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            projections = model(views)
        f1, f2 = torch.split(projections.float(), [args.batch_size, args.batch_size])
        loss = reference_supcon(torch.stack([f1, f2], dim=1), labels, temperature=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # SupContrast's AverageMeter reads the loss every step

    for _ in range(3):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "row": f"SupContrast-style {model_name} " + ("bf16 + channels_last" if bf16 else "fp32"),
        "images_per_s": args.steps * args.batch_size / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
    }


def markdown(report: dict) -> str:
    lines = [
        f"Device: {report['device']}, torch {report['torch']}; batch {report['batch_size']}, "
        f"{report['steps']} timed steps; {report['seconds']:.0f} s"
        + (
            "; the compiled loss cores fell back to eager."
            if report.get("loss_cores_fell_back_to_eager")
            else "."
        ),
        "",
        "| row | images/s | ms/step | peak MB |",
        "|:---|---:|---:|---:|",
    ]
    for row in report["training"]:
        peak = row.get("peak_memory_mb")
        name = row["row"] + (" (warned, see below)" if row["row"] in report["warnings"] else "")
        lines.append(
            f"| {name} | {row['images_per_s']:.0f} | {row['ms_per_step']:.1f} | "
            f"{'-' if peak is None else f'{peak:.0f}'} |"
        )
    for name, shares in report["phases"].items():
        text = ", ".join(f"{phase} {100 * share:.0f}%" for phase, share in shares.items())
        lines += ["", f"Phases of the eager contrastlab step, {name}: {text}."]
    lines += ["", "| augmentation | B | ms per 2 views | images/s |", "|:---|---:|---:|---:|"]
    for row in report["augmentation"]:
        lines.append(
            f"| {row['implementation']} | {row['batch_size']} | {row['ms_per_2_views']:.3f} | "
            f"{row['images_per_s']:.0f} |"
        )
    lines += ["", "| loss B | implementation | median ms | x floor | peak MB | kernels |"]
    lines.append("|---:|:---|---:|---:|---:|---:|")
    for row in report["loss"]:
        if row.get("skipped"):
            lines.append(f"| {row['batch_size']} | {row['implementation']} | {row['skipped']} ||||")
            continue
        cells = [row.get(k) for k in ("median_ms", "x_floor", "peak_mb", "kernels")]
        text = [
            "-" if c is None else (f"{c:.3g}" if isinstance(c, float) else str(c)) for c in cells
        ]
        lines.append(f"| {row['batch_size']} | {row['implementation']} | {' | '.join(text)} |")
    for title, entries in (("Errors", report["errors"]), ("Skipped (deadline)", report["skipped"])):
        if entries:
            lines += ["", f"{title}:", *(f"- {entry}" for entry in entries)]
    if report["warnings"]:
        lines += ["", "Warnings:"]
        lines += [f"- {row}: {' / '.join(notes)}" for row, notes in report["warnings"].items()]
    return "\n".join(lines)


class Run:
    """The report and the rule every row follows: skipped after the deadline, recorded when it
    raises, its warnings kept, the JSON rewritten (atomically) after it."""

    def __init__(self, report: dict, deadline: float, out: Path | None) -> None:
        self.report, self.deadline, self.out = report, deadline, out
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def row(
        self, name: str, measure: Callable[[], Any], keep: Callable[[Any], None] = lambda _: None
    ) -> None:
        """``keep(measure())`` (a result of None is not kept), then the report is saved; nothing
        when it is past the deadline, the error recorded when ``measure`` raises."""
        if self.elapsed() > self.deadline:
            self.report["skipped"].append(name)
            print(f"  {name}: skipped, past --deadline {self.deadline:.0f} s", flush=True)
            return
        result = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = measure()
            except Exception as error:  # record it and go on with the next row
                text = f"{name}: {type(error).__name__}: {str(error)[:500]}"
                self.report["errors"].append(text)
                print(f"  {text}", flush=True)
        notes = sorted(
            {
                f"{w.category.__name__}: {str(w.message)[:300]}"
                for w in caught
                if not issubclass(w.category, (DeprecationWarning, FutureWarning))
            }
        )
        if notes:
            self.report["warnings"][name] = notes
        if result is not None:
            keep(result)
        print(f"  {name} done ({self.elapsed():.0f} s)", flush=True)
        self.save()

    def training(self, measure: Callable[[], dict | None], name: str) -> None:
        """A row of the training table, its warnings filed under the table's name for it."""

        def keep(row: dict) -> None:
            self.report["training"].append(row)
            if name in self.report["warnings"]:
                self.report["warnings"][row["row"]] = self.report["warnings"].pop(name)
            print(f"    {row['row']}: {row['images_per_s']:.0f} images/s", flush=True)

        self.row(name, measure, keep)

    def save(self) -> None:
        self.report["seconds"] = self.elapsed()
        # once a compiled loss core fails it runs eagerly in every later row: say so
        cores = (_logsumexp._DENSE_EXPONENTIALS, _logsumexp._DENSE_BACKWARD)
        self.report["loss_cores_fell_back_to_eager"] = any(core.failed for core in cores)
        if self.out is not None:
            atomic_write_json(self.out, self.report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled rows")
    parser.add_argument("--no-reference", action="store_true", help="skip SupContrast's loop")
    parser.add_argument(
        "--loss-batch-sizes", type=int, nargs="+", default=[1024, 4096, 16384, 32768]
    )
    parser.add_argument(
        "--deadline", type=float, default=240.0,
        help="seconds after which no new row starts (the rest are listed as skipped)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="the JSON report, rewritten after every row")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: pass --device cpu for a smoke test")
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
    report: dict = {
        "device": name, "torch": torch.__version__, "python": platform.python_version(),
        "batch_size": args.batch_size, "steps": args.steps, "deadline_s": args.deadline,
        "training": [], "phases": {}, "augmentation": [], "loss": [], "errors": [],
        "skipped": [], "warnings": {}, "seconds": 0.0,
    }  # fmt: skip
    run = Run(report, args.deadline, args.out)
    small = [b for b in args.loss_batch_sizes if b <= 4096]
    large = [b for b in args.loss_batch_sizes if b > 4096]

    def losses(batch_sizes: list[int]) -> None:
        for batch_size in batch_sizes:
            run.row(
                f"loss B={batch_size}",
                lambda b=batch_size: loss_rows(device, (b,)),
                report["loss"].extend,
            )

    run.row(
        "augmentation",
        lambda: augmentation_rows(device, (256, args.batch_size), 20),
        report["augmentation"].extend,
    )
    losses(small)
    for model_name in args.models:
        run.training(
            lambda m=model_name: network_alone_row(m, False, args), f"network {model_name}"
        )
        run.training(
            lambda m=model_name: contrastlab_row(m, False, args), f"contrastlab {model_name}"
        )

        def keep_phases(shares: dict[str, float], name: str = model_name) -> None:
            report["phases"][name] = shares

        run.row(f"phases {model_name}", lambda m=model_name: phase_shares(m, args), keep_phases)
        if not args.no_reference:
            for bf16 in (True, False):
                run.training(
                    lambda m=model_name, b=bf16: supcontrast_row(m, b, args),
                    f"SupContrast {model_name} {'bf16' if bf16 else 'fp32'}",
                )
    if not args.no_compile:
        for model_name in args.models:
            run.training(
                lambda m=model_name: network_alone_row(m, True, args),
                f"network {model_name} compiled",
            )
            run.training(
                lambda m=model_name: contrastlab_row(m, True, args),
                f"contrastlab {model_name} --compile",
            )
    losses(large)
    run.save()
    print(markdown(report))


if __name__ == "__main__":
    main()
