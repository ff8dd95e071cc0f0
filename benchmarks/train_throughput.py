"""SupCon training throughput (images/s) and where the time of one step goes.

One step is what ``fit`` runs for ``ContrastiveViewsMethod('supcon')``, cut into phases, each
timed with ``time.perf_counter()`` (after a device synchronise on CUDA):

    data       index the in-memory uint8 batch [B, C, H, W] and its labels, move them to the device
    augment    2 views, ``ContrastiveImageAugment`` via ``MultiView`` -> [B, 2, C, H, W]
    forward    the network on the 2B views -> unit-norm projections [B, 2, feat_dim]
    loss       ``supcon_loss`` forward + backward on the projections alone (a detached leaf)
    backward   the network's backward from the projections' gradient
    optimizer  SGD step (TrainConfig's momentum and weight decay) and ``zero_grad``

Cutting the graph at the projections changes no gradient: ``projections.backward(leaf.grad)``
gives the parameters the same gradients as one backward of the loss through the whole graph.
A training image is one sample with its 2 views, so images/s = B / (median step time).

``benchmarks/augment.py`` times the augmentation alone (and against kornia's).

Threads on a shared machine: an intra-op parallel region ends only when all its threads have run,
so when other jobs hold the cores each region can wait a scheduler period (12-20 ms here) for its
second thread. A probe times ``torch.exp`` on 4096 floats (a few µs when the threads get the cores)
to show it; compare a run with ``--threads 1``.

    python benchmarks/train_throughput.py                     # ResNet-18, synthetic CIFAR, 32x32
    python benchmarks/train_throughput.py --model smallcnn --size 16     # sklearn digits, 16x16
    python benchmarks/train_throughput.py --docs docs/benchmarks.md  # also update the docs
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augment import median_seconds
from contrastlab.config.training import TrainConfig
from contrastlab.data.digits import load_digits_splits
from contrastlab.data.image_augment import ContrastiveImageAugment
from contrastlab.losses.supcon import supcon_loss
from contrastlab.methods import ContrastiveViewsMethod
from contrastlab.models.registry import ENCODER_NAMES
from contrastlab.models.supcon_resnet import SupConResNet
from contrastlab.training.batches import epoch_batches
from contrastlab.training.devices import resolve_device

PHASES = ("data", "augment", "forward", "loss", "backward", "optimizer")
PHASE_LABELS = {
    "data": "data: index uint8 batch + move to device",
    "augment": "augmentation: 2 views (MultiView)",
    "forward": "network forward (2B views)",
    "loss": "supcon_loss forward + backward",
    "backward": "network backward",
    "optimizer": "optimizer step + zero_grad",
}
N_VIEWS = 2
N_CLASSES = 10
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # SupContrast's normalisation for CIFAR-10
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
SECTION_BEGIN = "<!-- throughput:begin -->"
SECTION_END = "<!-- throughput:end -->"


# --- the benchmark ---------------------------------------------------------------------------


@dataclass
class Workload:
    images: torch.Tensor  # [N, C, H, W] uint8, in host memory as ``fit`` keeps it
    labels: torch.Tensor  # [N] int64
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str


def make_workload(data: str, size: int, n_samples: int, seed: int) -> Workload:
    if data == "digits":
        splits = load_digits_splits(size=size, seed=seed)
        return Workload(
            splits.train.inputs,
            splits.train.labels,
            tuple(splits.metadata["mean"]),
            tuple(splits.metadata["std"]),
            f"sklearn digits train split ({len(splits.train)} x 1 x {size} x {size} uint8)",
        )
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0, 256, (n_samples, 3, size, size), dtype=torch.uint8, generator=generator
    )
    labels = torch.randint(0, N_CLASSES, (n_samples,), generator=generator)
    return Workload(
        images,
        labels,
        CIFAR10_MEAN,
        CIFAR10_STD,
        f"synthetic CIFAR ({n_samples} x 3 x {size} x {size} uint8, {N_CLASSES} classes)",
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _index_batches(n_samples: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """The training loop's own index batches, epoch after epoch."""
    epoch = 1
    while True:
        yield from epoch_batches(n_samples, batch_size, seed, epoch)
        epoch += 1


class PhaseClock:
    """Phase boundaries of one step: ``mark()`` synchronises the device, then reads the clock."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.marks: list[float] = []
        self.mark()

    def mark(self) -> None:
        _synchronize(self.device)
        self.marks.append(time.perf_counter())

    def seconds(self) -> dict[str, float]:
        """Seconds of each of ``PHASES`` (marked in that order) and of the whole ``step``."""
        if len(self.marks) != len(PHASES) + 1:
            raise RuntimeError(f"{len(self.marks) - 1} phases marked, expected {len(PHASES)}")
        record = {phase: self.marks[i + 1] - self.marks[i] for i, phase in enumerate(PHASES)}
        record["step"] = self.marks[-1] - self.marks[0]
        return record


def run_steps(
    workload: Workload,
    model: nn.Module,
    method: ContrastiveViewsMethod,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    batch_size: int,
    *,
    n_steps: int,
    seed: int,
) -> list[dict[str, float]]:
    """Run ``n_steps`` training steps; per step, the seconds of each phase and of the whole step."""
    records = []
    batches = _index_batches(len(workload.labels), batch_size, seed)
    for _ in range(n_steps):
        indices = next(batches)
        clock = PhaseClock(device)
        inputs = workload.images[indices].to(device, non_blocking=True)
        labels = workload.labels[indices].to(device, non_blocking=True)
        clock.mark()
        views = method.views(inputs)  # [B, V, C, H, W]
        clock.mark()
        projections = model(views.flatten(0, 1)).view(views.shape[0], views.shape[1], -1)
        clock.mark()
        leaf = projections.detach().requires_grad_()
        loss = supcon_loss(
            leaf,
            labels=labels,
            temperature=method.temperature,
            base_temperature=method.base_temperature,
            memory=method.memory,
        )
        loss.backward()
        if not math.isfinite(float(loss.detach())):  # the loop's NaN guard reads the loss too
            raise RuntimeError(f"the loss became {float(loss)}")
        clock.mark()
        projections.backward(leaf.grad)
        clock.mark()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.mark()
        records.append(clock.seconds())
    return records


def with_threads(threads: int, call: Callable[[], float]) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return call()
    finally:
        torch.set_num_threads(previous)


def wake_probe_us(threads: int) -> float:
    """Median µs of ``torch.exp`` on 4096 floats: a few µs, or a scheduler period when the
    intra-op worker threads must wait for a core."""
    values = torch.rand(4096)
    return with_threads(
        threads, lambda: 1e6 * median_seconds(lambda: torch.exp(values), 50, torch.device("cpu"))
    )


@dataclass
class Report:
    title: str
    key: str  # names the configuration's block in the docs
    command: str
    setup: str
    batch_size: int
    phase_ms: dict[str, float]  # median per phase
    step_ms: list[float]  # every measured step, end to end

    @property
    def images_per_second(self) -> float:
        return self.batch_size / (statistics.median(self.step_ms) / 1000)

    def markdown(self) -> str:
        phase_sum = sum(self.phase_ms.values())
        step = statistics.median(self.step_ms)
        lines = [
            f"### {self.title}",
            "",
            f"`{self.command}`",
            "",
            self.setup,
            "",
            "| phase | median ms | share |",
            "|:---|---:|---:|",
        ]
        lines += [
            f"| {PHASE_LABELS[phase]} | {ms:.1f} | {100 * ms / phase_sum:.1f}% |"
            for phase, ms in self.phase_ms.items()
        ]
        lines += [
            f"| sum of the phase medians | {phase_sum:.1f} | 100% |",
            f"| **step, end to end** (min {min(self.step_ms):.1f}, "
            f"max {max(self.step_ms):.1f}) | **{step:.1f}** | |",
            "",
            f"**{self.images_per_second:.1f} images/s** (B={self.batch_size} samples per step, "
            f"each with its {N_VIEWS} views: {N_VIEWS * self.images_per_second:.1f} views/s "
            "through the network).",
        ]
        return "\n".join(lines)


def update_docs(path: Path, key: str, block: str) -> None:
    """Put ``block`` in this script's section of ``path`` (created if missing), replacing the block
    of the same configuration ``key``; text elsewhere in the file and section is kept."""
    text = path.read_text() if path.exists() else ""
    if SECTION_BEGIN not in text or SECTION_END not in text:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "")
        text += f"{SECTION_BEGIN}\n{SECTION_END}\n"
    head, rest = text.split(SECTION_BEGIN, 1)
    section, tail = rest.split(SECTION_END, 1)
    if not section.strip():
        section = (
            "\n## Training throughput: images/s and the share of each phase of a SupCon step\n\n"
            "Written by `benchmarks/train_throughput.py` (its docstring defines the phases).\n"
            "A run replaces the block of its own configuration; text outside the blocks is kept.\n"
        )
    run_begin, run_end = f"<!-- throughput-run: {key} -->", "<!-- /throughput-run -->"
    run = f"{run_begin}\n{block}\n{run_end}"
    pattern = re.compile(re.escape(run_begin) + ".*?" + re.escape(run_end), re.DOTALL)
    if pattern.search(section):
        section = pattern.sub(lambda _: run, section)
    else:
        section = section.rstrip("\n") + f"\n\n{run}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{SECTION_BEGIN}{section}{SECTION_END}{tail}")


def _command_line() -> str:
    executable = os.path.relpath(sys.executable)
    python = "python" if executable.startswith("..") else executable
    return shlex.join([python, *sys.argv])


def _cpu_name() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18", choices=ENCODER_NAMES)
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument(
        "--data",
        choices=("synthetic", "digits"),
        help="default: digits for smallcnn, synthetic CIFAR-shaped uint8 images otherwise",
    )
    parser.add_argument("--n-samples", type=int, default=50_000, help="synthetic images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, help="timed steps (default 5; 50 for smallcnn)")
    parser.add_argument("--warmup", type=int, help="untimed steps (default 1; 5 for smallcnn)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", type=Path, help="update this markdown file's throughput section")
    args = parser.parse_args(argv)
    small = args.model == "smallcnn"
    args.data = args.data or ("digits" if small else "synthetic")
    args.steps = args.steps if args.steps is not None else (50 if small else 5)
    args.warmup = args.warmup if args.warmup is not None else (5 if small else 1)
    if min(args.steps, args.threads) < 1 or args.warmup < 0:
        parser.error("need --steps >= 1, --threads >= 1, --warmup >= 0")
    if args.batch_size < 2 or args.size < 8:
        parser.error("need --batch-size >= 2 and --size >= 8")
    return args


def run_benchmark(args: argparse.Namespace) -> Report:
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    workload = make_workload(args.data, args.size, args.n_samples, args.seed)
    if len(workload.labels) < args.batch_size:
        raise ValueError(
            f"--batch-size {args.batch_size} exceeds the {len(workload.labels)} samples"
        )
    model = SupConResNet(args.model, in_channels=workload.images.shape[1]).to(device).train()
    augment = ContrastiveImageAugment(args.size, workload.mean, workload.std)
    method = ContrastiveViewsMethod(augment, method="supcon", n_views=N_VIEWS).to(device)
    defaults = TrainConfig()
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=defaults.learning_rate,
        momentum=defaults.momentum,
        weight_decay=defaults.weight_decay,
    )
    print(
        f"{args.model} on {workload.description}, B={args.batch_size}, {device}, "
        f"{args.threads} threads: {args.warmup} warm-up + {args.steps} timed steps",
        flush=True,
    )
    common = (workload, model, method, optimizer, device, args.batch_size)
    run_steps(*common, n_steps=args.warmup, seed=args.seed)
    records = run_steps(*common, n_steps=args.steps, seed=args.seed + 1)
    probe = {count: wake_probe_us(count) for count in sorted({args.threads, 1}, reverse=True)}
    setup = (
        f"{workload.description}; torch {torch.__version__}, "
        f"{_cpu_name()} ({os.cpu_count()} logical CPUs), device {device}, {args.threads} "
        f"thread(s); median of {args.steps} steps after {args.warmup} warm-up; the run took "
        f"{time.perf_counter() - started:.0f} s. 1-minute load average {load_start:.2f} at the "
        f"start, {os.getloadavg()[0]:.2f} at the end (other jobs share the machine); "
        "`torch.exp` on 4096 floats: "
        + ", ".join(f"{us:.0f} µs at {count} thread(s)" for count, us in probe.items())
        + "."
    )
    return Report(
        title=f"{args.model}, {args.data} {args.size}x{args.size}, B={args.batch_size}, "
        f"{device.type}, {args.threads} thread(s)",
        key=f"{args.model}-{args.data}-{args.size}-b{args.batch_size}-{device.type}-t{args.threads}",
        command=_command_line(),
        setup=setup,
        batch_size=args.batch_size,
        phase_ms={p: 1000 * statistics.median(r[p] for r in records) for p in PHASES},
        step_ms=[1000 * r["step"] for r in records],
    )


def main() -> None:
    args = parse_args()
    report = run_benchmark(args)
    table = report.markdown()
    print(table)
    if args.docs:
        update_docs(args.docs, report.key, table)
        print(f"updated {args.docs} ({report.key})")


if __name__ == "__main__":
    main()
