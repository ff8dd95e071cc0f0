"""SupCon forward + backward: contrastlab against the matmul floor, the reference algorithm and PML.

Each (implementation, batch size, supervision) cell runs in its own subprocess so that peak memory
is measured cleanly: the extra peak is the process's high-water mark (VmHWM) minus its resident size
just before the first call, with the inputs already allocated. Time is the median of repeats after a
warm-up call. Ratios are against the floor measured in the same run.

    python benchmarks/losses.py                       # B in 256 1024 4096, 2 threads
    python benchmarks/losses.py --batch-sizes 256 --repeats 3 --markdown docs/table.md
    python benchmarks/losses.py --batch-sizes 16384 --implementations floor contrastlab-blocked \
        --labels supervised --repeats 3 --statistic min    # the constant-memory target

``--statistic min`` reports the fastest repeat instead of the median: on a CPU shared with other
jobs the minimum is the run that was interrupted least.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

IMPLEMENTATIONS = ("floor", "contrastlab", "contrastlab-blocked", "reference", "pml")
"""``contrastlab`` is ``memory='auto'``; ``contrastlab-dense`` (not run by default) forces dense."""
DIM = 128
N_VIEWS = 2
N_CLASSES = 10


def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _reference_supcon(features, labels, temperature=0.1):  # type: ignore[no-untyped-def]
    """The SupContrast algorithm as published: max-subtraction, dense masks, exp, log."""
    import torch

    bsz, n_views = features.shape[0], features.shape[1]
    if labels is None:
        mask = torch.eye(bsz, dtype=features.dtype)
    else:
        mask = torch.eq(labels.view(-1, 1), labels.view(1, -1)).to(features.dtype)
    contrast = torch.cat(torch.unbind(features, dim=1), dim=0)
    logits = contrast @ contrast.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True)[0].detach()
    mask = mask.repeat(n_views, n_views)
    logits_mask = torch.ones_like(mask)
    logits_mask.fill_diagonal_(0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    return -mean_log_prob_pos.mean()


def _make_step(implementation: str, features, labels):  # type: ignore[no-untyped-def]
    import torch

    if implementation == "floor":
        flat = torch.cat(torch.unbind(features, dim=1), dim=0)

        def floor_step() -> None:
            similarity = flat @ flat.T
            grad = similarity  # stands for dL/dS: same shape, no extra element-wise work
            _ = grad @ flat
            _ = grad.T @ flat

        return floor_step
    if implementation.startswith("contrastlab"):
        from contrastlab.losses import supcon_loss

        memory = {"contrastlab-blocked": "blocked", "contrastlab-dense": "dense"}.get(
            implementation, "auto"
        )
        return lambda: supcon_loss(features, labels, temperature=0.1, memory=memory).backward()
    if implementation == "reference":
        return lambda: _reference_supcon(features, labels).backward()
    if implementation == "pml":
        from pytorch_metric_learning.losses import SupConLoss as PMLSupConLoss

        loss = PMLSupConLoss(temperature=0.1)
        flat = torch.cat(torch.unbind(features, dim=1), dim=0)
        flat_labels = (torch.arange(features.shape[0]) if labels is None else labels).repeat(
            N_VIEWS
        )
        return lambda: loss(flat, flat_labels).backward()
    raise ValueError(f"unknown implementation {implementation!r}")


def run_cell(
    implementation: str,
    batch_size: int,
    supervised: bool,
    repeats: int,
    threads: int = 2,
    statistic: str = "median",
) -> dict:
    """Measure one cell in this process (called in a fresh subprocess)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(batch_size, N_VIEWS, DIM, generator=generator), dim=2)
    features.requires_grad_(True)
    labels = torch.randint(0, N_CLASSES, (batch_size,), generator=generator) if supervised else None
    step = _make_step(implementation, features, labels)
    baseline_kib = _memory_kib("VmRSS")
    step()
    peak_kib = _memory_kib("VmHWM")
    times = []
    for _ in range(repeats):
        features.grad = None
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        "implementation": implementation,
        "batch_size": batch_size,
        "supervised": supervised,
        "median_ms": 1000 * (statistics.median(times) if statistic == "median" else min(times)),
        "extra_peak_mb": (peak_kib - baseline_kib) / 1024,
    }


def _run_in_subprocess(
    implementation: str,
    batch_size: int,
    supervised: bool,
    repeats: int,
    threads: int,
    statistic: str,
):
    command = [
        sys.executable,
        __file__,
        "--cell",
        json.dumps([implementation, batch_size, supervised, repeats, threads, statistic]),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"  {implementation} B={batch_size}: failed: {result.stderr.strip()[-300:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def _markdown(rows: list[dict], statistic: str = "median") -> str:
    lines = [
        f"| B (per view) | labels | implementation | {statistic} ms | x floor | extra peak MB "
        "| x one [2B,2B] fp32 |",
        "|---:|:---|:---|---:|---:|---:|---:|",
    ]
    for row in rows:
        matrix_mb = (N_VIEWS * row["batch_size"]) ** 2 * 4 / 2**20
        lines.append(
            f"| {row['batch_size']} | {'10 classes' if row['supervised'] else 'none'} "
            f"| {row['implementation']} | {row['median_ms']:.1f} | {row['x_floor']:.2f} "
            f"| {row['extra_peak_mb']:.0f} | {row['extra_peak_mb'] / matrix_mb:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--labels",
        choices=("both", "supervised", "unsupervised"),
        default="both",
        help="SupCon with 10-class labels, SimCLR-style without, or both",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--statistic",
        choices=("median", "min"),
        default="median",
        help="time reported over the repeats",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(run_cell(*json.loads(args.cell))))
        return

    rows: list[dict] = []
    supervision = {"both": (True, False), "supervised": (True,), "unsupervised": (False,)}
    for supervised in supervision[args.labels]:
        for batch_size in args.batch_sizes:
            cells = {}
            for implementation in args.implementations:
                if implementation == "pml":
                    try:
                        import pytorch_metric_learning  # noqa: F401
                    except ImportError:
                        continue
                cell = _run_in_subprocess(
                    implementation,
                    batch_size,
                    supervised,
                    args.repeats,
                    args.threads,
                    args.statistic,
                )
                if cell is not None:
                    cells[implementation] = cell
            floor_ms = cells["floor"]["median_ms"] if "floor" in cells else float("nan")
            for cell in cells.values():
                cell["x_floor"] = cell["median_ms"] / floor_ms
                rows.append(cell)
                print(
                    f"B={batch_size:5d} labels={supervised!s:5} {cell['implementation']:20s} "
                    f"{cell['median_ms']:9.1f} ms  x{cell['x_floor']:.2f} floor  "
                    f"+{cell['extra_peak_mb']:7.0f} MB",
                    flush=True,
                )
    table = _markdown(rows, args.statistic)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
