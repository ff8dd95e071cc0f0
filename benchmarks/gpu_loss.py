"""SupCon forward + backward on one device: contrastlab's memory modes against the SupContrast
reference formula and the matmul floor, with peak memory and CUDA kernels per call.

    python benchmarks/gpu_loss.py                                   # cuda, B in 1024 .. 32768
    python benchmarks/gpu_loss.py --device cpu --batch-sizes 64 256 --repeats 2   # smoke test

``loss_rows(device, batch_sizes, repeats)`` returns one dict per (batch size, implementation), so
that ``benchmarks/gpu_supcon.py`` can report the same cells. Inputs: unit features [B, 2, 128]
(B per view, N = 2B embeddings), 10 classes, float32, temperature 0.1; TF32 is left as configured
(off by default: every matmul is a float32 one). Implementations:

* ``floor``: S = F F^T, then G F and G^T F with G of S's shape: the matmuls every exact
  implementation pays;
* ``contrastlab-auto``, ``-dense``, ``-blocked``: ``supcon_loss(memory=...)`` (on CUDA the dense
  cores compiled by ``torch.compile`` when available);
* ``contrastlab-dense-eager``: ``memory='dense'`` with compilation off (``CONTRASTLAB_COMPILE=0``),
  to see what compiling brings;
* ``reference``: the SupContrast loss (``losses.py`` of HobbitLong/SupContrast) as published.

Per cell: one warm-up call (compilation, allocator), then ``repeats`` calls, each timed alone
between two device synchronisations; the median is reported, and ``x_floor`` divides it by the
floor's median. On CUDA also the peak memory the call adds (``max_memory_allocated`` above what was
allocated before it) and the kernels one call launches (``torch.profiler``). A cell whose estimated
memory exceeds 85 % of the free device memory is skipped (``skipped``: its reason), as is one that
runs out of memory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from contrastlab.losses import supcon_loss
from contrastlab.losses._compiled import COMPILE_VARIABLE

DIM = 128
N_VIEWS = 2
N_CLASSES = 10
TEMPERATURE = 0.1
IMPLEMENTATIONS = (
    "floor",
    "contrastlab-auto",
    "contrastlab-dense",
    "contrastlab-dense-eager",
    "contrastlab-blocked",
    "reference",
)
MATRICES_ALIVE = {
    "floor": 1.2,
    "contrastlab-auto": 2.5,
    "contrastlab-dense": 2.5,
    "contrastlab-dense-eager": 1.5,
    "contrastlab-blocked": 0.0,
    "reference": 10.0,
}
"""About how many float32 [N, N] matrices each implementation holds at its peak (the reference
keeps logits, masks, exponentials and log-probabilities for backward), for the skip estimate."""


def reference_supcon(
    features: torch.Tensor, labels: torch.Tensor, temperature: float = TEMPERATURE
) -> torch.Tensor:
    """The SupContrast loss as published (contrast_mode='all', base_temperature = 0.07)."""
    device = features.device
    batch_size, n_views = features.shape[:2]
    labels = labels.contiguous().view(-1, 1)
    mask = torch.eq(labels, labels.T).float()
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_dot_contrast = torch.div(contrast_feature @ contrast_feature.T, temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(n_views, n_views)
    rows = torch.arange(batch_size * n_views, device=device).view(-1, 1)
    logits_mask = torch.scatter(torch.ones_like(mask), 1, rows, 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mask_pos_pairs = mask.sum(1)
    mask_pos_pairs = torch.where(mask_pos_pairs < 1e-6, 1, mask_pos_pairs)
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask_pos_pairs
    loss = -(temperature / 0.07) * mean_log_prob_pos
    return loss.view(n_views, batch_size).mean()


@contextlib.contextmanager
def _compilation(enabled: bool) -> Iterator[None]:
    previous = os.environ.get(COMPILE_VARIABLE)
    os.environ[COMPILE_VARIABLE] = "1" if enabled else "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[COMPILE_VARIABLE]
        else:
            os.environ[COMPILE_VARIABLE] = previous


def _step(implementation: str, features: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """One forward + backward of ``implementation`` (gradients freed after each call)."""
    if implementation == "floor":
        flat = features.detach().transpose(0, 1).reshape(-1, DIM)

        def floor() -> None:
            similarity = flat @ flat.T
            _ = similarity @ flat  # G F, with S standing for G: same shapes, no extra work
            _ = similarity.T @ flat

        return floor
    memory = implementation.removeprefix("contrastlab-").removesuffix("-eager")

    def loss_fn() -> torch.Tensor:
        if implementation == "reference":
            return reference_supcon(features, labels)
        return supcon_loss(features, labels, temperature=TEMPERATURE, memory=memory)

    def step() -> None:
        features.grad = None
        # the switch covers the backward too: the compiled backward core is chosen when it runs
        with _compilation(not implementation.endswith("-eager")):
            loss_fn().backward()

    return step


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, step: Callable[[], None]) -> float:
    _synchronize(device)
    start = time.perf_counter()
    step()
    _synchronize(device)
    return time.perf_counter() - start


def _kernels_per_call(step: Callable[[], None]) -> int:
    # CPU activity too: with CUDA alone some profiler builds record no kernel events
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profile:
        step()
        torch.cuda.synchronize()
    return sum(
        1
        for event in profile.events()
        if event.device_type == torch.autograd.DeviceType.CUDA
        and not event.name.startswith("Memcpy")
        and not event.name.startswith("Memset")
    )


def _skip_reason(device: torch.device, implementation: str, n: int) -> str | None:
    if device.type != "cuda":
        return None
    free_bytes, _ = torch.cuda.mem_get_info(device)
    needed = MATRICES_ALIVE[implementation] * 4 * n * n
    if needed > 0.85 * free_bytes:
        return f"needs about {needed / 2**30:.0f} GiB, {free_bytes / 2**30:.0f} GiB free"
    return None


def _inputs(batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(batch_size, N_VIEWS, DIM, generator=generator), dim=2)
    labels = torch.randint(0, N_CLASSES, (batch_size,), generator=generator)
    return features.to(device).requires_grad_(True), labels.to(device)


def _cell(
    device: torch.device, implementation: str, batch_size: int, repeats: int
) -> dict[str, object]:
    n = N_VIEWS * batch_size
    row: dict[str, object] = {"batch_size": batch_size, "n": n, "implementation": implementation}
    row.update(median_ms=None, peak_mb=None, kernels=None, skipped=None)
    reason = _skip_reason(device, implementation, n)
    if reason is not None:
        row["skipped"] = reason
        return row
    features, labels = _inputs(batch_size, device)
    step = _step(implementation, features, labels)
    try:
        step()  # warm-up: compilation, allocator, cuBLAS heuristics
        baseline = 0
        if device.type == "cuda":
            _synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            baseline = torch.cuda.memory_allocated(device)
        times = [_timed(device, step) for _ in range(repeats)]
        if device.type == "cuda":
            row["peak_mb"] = (torch.cuda.max_memory_allocated(device) - baseline) / 2**20
            row["kernels"] = _kernels_per_call(step)
    except torch.cuda.OutOfMemoryError:
        row["skipped"] = "out of memory"
        return row
    except Exception as error:  # one failing cell must not end a benchmark run: record it
        row["skipped"] = f"failed: {type(error).__name__}: {str(error)[:300]}"
        return row
    finally:
        del features, labels, step
        if device.type == "cuda":
            torch.cuda.empty_cache()
    row["median_ms"] = 1000 * statistics.median(times)
    return row


def loss_rows(
    device: torch.device | str,
    batch_sizes: Sequence[int] = (1024, 4096, 16384, 32768),
    repeats: int = 5,
    implementations: Sequence[str] = IMPLEMENTATIONS,
) -> list[dict[str, object]]:
    """One row per (batch size, implementation): ``batch_size`` (per view), ``n`` (embeddings),
    ``implementation``, ``median_ms``, ``x_floor``, ``peak_mb`` and ``kernels`` (CUDA only, else
    None), ``skipped`` (None, or why the cell was not run or how it failed). See the module
    docstring."""
    device = torch.device(device)
    rows = []
    for batch_size in batch_sizes:
        cells = [_cell(device, name, batch_size, repeats) for name in implementations]
        floor = next((c["median_ms"] for c in cells if c["implementation"] == "floor"), None)
        for cell in cells:
            both = cell["median_ms"] is not None and floor is not None
            cell["x_floor"] = cell["median_ms"] / floor if both else None  # type: ignore[operator]
        rows.extend(cells)
    return rows


def _number(value: object, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(rows: Sequence[dict[str, object]]) -> str:
    lines = [
        "| B (per view) | N | implementation | median ms | x floor | peak MB | kernels/call |",
        "|---:|---:|:---|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["skipped"] is not None:
            cells = f"skipped: {row['skipped']} | | | |"
        else:
            cells = (
                f"{_number(row['median_ms'], 3)} | {_number(row['x_floor'], 2)} "
                f"| {_number(row['peak_mb'], 0)} | {_number(row['kernels'], 0)} |"
            )
        lines.append(f"| {row['batch_size']} | {row['n']} | {row['implementation']} | {cells}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 4096, 16384, 32768])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--implementations", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS)
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = loss_rows(args.device, args.batch_sizes, args.repeats, args.implementations)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, {time.perf_counter() - started:.0f} s")
    print(markdown(rows))


if __name__ == "__main__":
    main()
