"""Scaling on this machine: training throughput at 1 and 2 processes, and loss memory against batch.

    python benchmarks/scaling.py throughput               # digits 16x16, smallcnn, SupCon
    python benchmarks/scaling.py memory                   # dense vs blocked SupCon, B up to 16384
    python benchmarks/scaling.py all --out docs/figures   # both; markdown tables and a PNG

**Throughput.** ``contrastlab pretrain`` (digits resized to --size, SmallConvNet, SupCon, global
batch --batch-size) runs --epochs epochs in each configuration, all at the same global batch
(strong scaling): 1 process x 1 thread, 1 process x 2 threads, and ``torchrun --nproc_per_node 2``
x 1 thread (gloo, DDP, projections gathered across ranks, SyncBN). Images/s is global batch x
batches per epoch / ``epoch_seconds`` of the last epoch in ``metrics.jsonl`` (the first carries
one-off costs: imports, allocator warm-up); the table gives every run and the median over --runs.

**Memory.** Each (kernel, batch size) cell runs one SupCon forward + backward (2 views, D = 128,
10 classes, float32) in a fresh process through ``benchmarks/losses.py``: the extra peak resident
memory (VmHWM) over the process's size with the inputs allocated, and the time of the fastest
repeat. Kernels: ``memory='dense'``, ``memory='blocked'`` and the matmul floor (S = Z Z^T and the
two gradient matmuls, the least any exact implementation must compute). The PNG plots extra peak MB
against batch size on log axes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import losses as loss_benchmark  # the sibling benchmark script

THROUGHPUT_CONFIGS = (  # (name, processes, threads per process)
    ("1 process x 1 thread", 1, 1),
    ("1 process x 2 threads", 1, 2),
    ("2 processes x 1 thread (torchrun, gloo)", 2, 1),
)
MEMORY_KERNELS = {
    "matmul floor": "floor",
    "dense": "contrastlab-dense",
    "blocked": "contrastlab-blocked",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pretrain_command(processes: int, run_dir: Path, args: argparse.Namespace) -> list[str]:
    """The command line of one throughput run (printed in the report)."""
    if args.batch_size % processes:
        raise ValueError(f"--batch-size {args.batch_size} does not split over {processes} ranks")
    options = [
        "pretrain",
        "--dataset", "digits", "--model", "smallcnn", "--size", str(args.size),
        "--method", "supcon", "--epochs", str(args.epochs),
        "--batch_size", str(args.batch_size // processes),
        "--knn_every", "0", "--save_freq", "1000", "--device", "cpu", "--no-progress",
        "--out", str(run_dir),
    ]  # fmt: skip
    if processes == 1:
        return [sys.executable, "-m", "contrastlab", *options]
    launcher = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "contrastlab",
    ]  # fmt: skip
    return [*launcher, *options, "--syncBN"]


def run_throughput(args: argparse.Namespace) -> list[dict]:
    images_per_epoch = (_train_size(args.size) // args.batch_size) * args.batch_size  # drop_last
    rows = []
    for name, processes, threads in THROUGHPUT_CONFIGS:
        speeds = []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as scratch:
                run_dir = Path(scratch) / "run"
                command = pretrain_command(processes, run_dir, args)
                environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
                result = subprocess.run(
                    command, capture_output=True, text=True, env=environment, check=False
                )
                if result.returncode != 0:
                    raise RuntimeError(f"{name} failed:\n{result.stderr[-2000:]}")
                lines = (run_dir / "metrics.jsonl").read_text().splitlines()
                speeds.append(images_per_epoch / json.loads(lines[-1])["epoch_seconds"])
            print(f"  {name}: run {run + 1}: {speeds[-1]:.0f} images/s", flush=True)
        rows.append(
            {
                "name": name,
                "processes": processes,
                "threads": threads,
                "images_per_s": speeds,
                "median": statistics.median(speeds),
                "command": " ".join(
                    ["OMP_NUM_THREADS=" + str(threads)]
                    + [Path(part).name if part == sys.executable else part for part in command]
                ).replace(str(run_dir), "RUN_DIR"),
            }
        )
    baseline = rows[0]["median"]
    for row in rows:
        row["speedup"] = row["median"] / baseline
    return rows


def _train_size(size: int) -> int:
    from contrastlab.data.digits import load_digits_splits

    return len(load_digits_splits(size=size).train)


def throughput_markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"SupCon on digits {args.size}x{args.size}, smallcnn, global batch {args.batch_size}, "
        f"images/s of epoch {args.epochs} of {args.epochs}, {args.runs} runs each.",
        "",
        "| configuration | images/s (runs) | median | vs 1 x 1 |",
        "|:---|:---|---:|---:|",
    ]
    for row in rows:
        runs = ", ".join(f"{value:.0f}" for value in row["images_per_s"])
        lines.append(
            f"| {row['name']} | {runs} | **{row['median']:.0f}** | {row['speedup']:.2f}x |"
        )
    lines += ["", "Commands (RUN_DIR a scratch directory):", ""]
    lines += [f"    {row['command']}" for row in rows]
    return "\n".join(lines)


def run_memory(args: argparse.Namespace) -> list[dict]:
    rows = []
    for batch_size in args.batch_sizes:
        for name, implementation in MEMORY_KERNELS.items():
            if name == "dense" and batch_size > args.max_dense_batch:
                continue
            cell = loss_benchmark._run_in_subprocess(
                implementation, batch_size, True, args.repeats, args.threads, "min"
            )
            if cell is None:
                continue
            cell["kernel"] = name
            rows.append(cell)
            print(
                f"  B={batch_size:6d} {name:12s} +{cell['extra_peak_mb']:8.0f} MB "
                f"{cell['median_ms']:10.1f} ms",
                flush=True,
            )
    return rows


def memory_markdown(rows: list[dict]) -> str:
    lines = [
        "| B (per view) | N = 2B | kernel | extra peak MB | [N, N] fp32 MB | fastest ms |",
        "|---:|---:|:---|---:|---:|---:|",
    ]
    for row in rows:
        n = 2 * row["batch_size"]
        lines.append(
            f"| {row['batch_size']} | {n} | {row['kernel']} | {row['extra_peak_mb']:.0f} "
            f"| {n * n * 4 / 2**20:.0f} | {row['median_ms']:.0f} |"
        )
    return "\n".join(lines)


def plot_memory(rows: list[dict], path: Path) -> Path:
    from contrastlab.evaluation.plots import plot_lines

    series = {}
    for name in MEMORY_KERNELS:
        points = sorted(
            (row["batch_size"], max(row["extra_peak_mb"], 1.0))
            for row in rows
            if row["kernel"] == name
        )
        if points:
            series[name] = ([x for x, _ in points], [y for _, y in points])
    return plot_lines(
        series,
        path,
        xlabel="batch size per view (N = 2B embeddings of dim 128)",
        ylabel="extra peak memory of SupCon forward+backward (MB)",
        logx=True,
        logy=True,
        title="SupCon loss memory: dense vs blocked",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("throughput", "memory", "all"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--size", type=int, default=16, help="digits image size")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (throughput)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[512, 1024, 2048, 4096, 8192, 16384],
        help="per-view batch sizes (memory)",
    )
    parser.add_argument("--max-dense-batch", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats per memory cell")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (memory cells)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M")
    report = [f"benchmarks/scaling.py {args.what}, started {started}, load {os.getloadavg()}"]
    if args.what in ("throughput", "all"):
        rows = run_throughput(args)
        (args.out / "scaling_throughput.json").write_text(json.dumps(rows, indent=2))
        report += ["", throughput_markdown(rows, args)]
    if args.what in ("memory", "all"):
        rows = run_memory(args)
        (args.out / "scaling_memory.json").write_text(json.dumps(rows, indent=2))
        plot = plot_memory(rows, args.out / "scaling_memory.png")
        report += ["", memory_markdown(rows), "", f"plot: {plot}"]
    report.append(f"finished {time.strftime('%H:%M')}, load {os.getloadavg()}")
    text = "\n".join(report)
    print(text)
    (args.out / f"scaling_{args.what}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
