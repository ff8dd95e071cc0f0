"""SupCon forward + backward: contrastlab against the matmul floor, the reference algorithm and PML.

Two measurements per (batch size, supervision) cell, each in fresh subprocesses:

* **time**: every implementation runs in one process, in rounds: each round calls each
  implementation once (the order rotating from round to round) after one warm-up call each. The
  ratio to the floor is the median over rounds of (time / floor time in the same round), so a
  change in the machine's load during the run shifts both sides of each ratio alike; the table's
  time is the median (or fastest, ``--statistic min``) of an implementation's rounds.
* **memory**: one call of one implementation in its own process: the extra peak is the process's
  high-water mark (VmHWM) minus its resident size just before the call, inputs allocated.

    python benchmarks/losses.py                       # B in 256 1024 4096, 2 threads
    python benchmarks/losses.py --batch-sizes 256 --repeats 3 --markdown docs/table.md
    python benchmarks/losses.py --batch-sizes 16384 --implementations floor contrastlab-blocked \
        --labels supervised --repeats 3 --statistic min    # the constant-memory target
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
"""``contrastlab`` is ``memory='auto'`` (at B = 4096 it keeps the upper-triangle tiles);
``contrastlab-blocked`` recomputes them in backward; ``contrastlab-dense`` (not run by default)
forces keeping. The CPU uses the symmetric tiles from N = 2B = ``SYMMETRIC_TILES_MIN_ROWS`` (4096)
embeddings up; below that, exact row blocks (what every batch size runs on a GPU)."""
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


def _inputs(batch_size: int, supervised: bool):  # type: ignore[no-untyped-def]
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(batch_size, N_VIEWS, DIM, generator=generator), dim=2)
    features.requires_grad_(True)
    labels = torch.randint(0, N_CLASSES, (batch_size,), generator=generator) if supervised else None
    return features, labels


def run_cell(
    implementation: str,
    batch_size: int,
    supervised: bool,
    repeats: int,
    threads: int = 2,
    statistic: str = "median",
) -> dict:
    """Peak memory of one call, then ``repeats`` timed calls, of one implementation in this
    process (called in a fresh subprocess; ``repeats=0`` measures memory only)."""
    import torch

    torch.set_num_threads(threads)
    features, labels = _inputs(batch_size, supervised)
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
    summary = statistics.median if statistic == "median" else min
    return {
        "implementation": implementation,
        "batch_size": batch_size,
        "supervised": supervised,
        "median_ms": 1000 * summary(times) if times else float("nan"),
        "extra_peak_mb": (peak_kib - baseline_kib) / 1024,
    }


def time_interleaved(
    implementations: list[str],
    batch_size: int,
    supervised: bool,
    repeats: int,
    threads: int = 2,
    statistic: str = "median",
) -> dict[str, dict]:
    """Time all implementations in this process, in ``repeats`` rounds with rotating order.

    Returns, per implementation, its time (median or min over rounds, ms) and ``x_floor``: the
    median over rounds of its time divided by the floor's time in the same round."""
    import torch

    torch.set_num_threads(threads)
    features, labels = _inputs(batch_size, supervised)
    steps = {name: _make_step(name, features, labels) for name in implementations}
    for step in steps.values():  # warm-up: allocator, thread pool, lazy initialisation
        step()
    rounds: list[dict[str, float]] = []
    for index in range(repeats):
        order = implementations[index % len(implementations) :]
        order += implementations[: index % len(implementations)]
        timings = {}
        for name in order:
            features.grad = None
            start = time.perf_counter()
            steps[name]()
            timings[name] = time.perf_counter() - start
        rounds.append(timings)
    summary = statistics.median if statistic == "median" else min
    results = {}
    for name in implementations:
        ratios = [timings[name] / timings["floor"] for timings in rounds if "floor" in timings]
        results[name] = {
            "median_ms": 1000 * summary(timings[name] for timings in rounds),
            "x_floor": statistics.median(ratios) if ratios else float("nan"),
        }
    return results


def _run_script(*arguments: str) -> dict | None:
    command = [sys.executable, __file__, *arguments]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"  {arguments}: failed: {result.stderr.strip()[-300:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def _run_in_subprocess(
    implementation: str,
    batch_size: int,
    supervised: bool,
    repeats: int,
    threads: int,
    statistic: str,
) -> dict | None:
    """:func:`run_cell` in a fresh process."""
    cell = [implementation, batch_size, supervised, repeats, threads, statistic]
    return _run_script("--cell", json.dumps(cell))


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
    parser.add_argument("--timing", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(run_cell(*json.loads(args.cell))))
        return
    if args.timing:
        print(json.dumps(time_interleaved(*json.loads(args.timing))))
        return

    implementations = list(args.implementations)
    if "pml" in implementations:
        try:
            import pytorch_metric_learning  # noqa: F401
        except ImportError:
            implementations.remove("pml")
    if "floor" not in implementations:
        implementations.insert(0, "floor")
    rows: list[dict] = []
    supervision = {"both": (True, False), "supervised": (True,), "unsupervised": (False,)}
    for supervised in supervision[args.labels]:
        for batch_size in args.batch_sizes:
            timing = [implementations, batch_size, supervised, args.repeats, args.threads]
            times = _run_script("--timing", json.dumps([*timing, args.statistic])) or {}
            for implementation in implementations:
                cell = _run_in_subprocess(
                    implementation, batch_size, supervised, 0, args.threads, args.statistic
                )
                if cell is None or implementation not in times:
                    continue
                cell.update(times[implementation])
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
