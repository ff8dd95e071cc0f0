"""SupCon forward + backward with labels (supervised) and without (SimCLR's case), interleaved.

    python benchmarks/label_modes.py --batch-size 4096 --rounds 7

``benchmarks/losses.py`` times the supervised cells first and the unsupervised ones after them, so
a change in machine load between the two shows up as a difference between label modes. Here every
round times one supervised and one unsupervised call of :class:`contrastlab.losses.SupConLoss`
(default memory mode, temperature 0.1, 2 views, D = 128, 10 classes, float32) back to back, after
two warm-up calls of each; the table gives the median over rounds and the median per-round ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from contrastlab.losses import SupConLoss


def timed_step(criterion: SupConLoss, features: torch.Tensor, labels: torch.Tensor | None) -> float:
    """Seconds for one forward + backward."""
    leaf = features.clone().requires_grad_()
    started = time.perf_counter()
    criterion(leaf, labels).backward()
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=4096, help="samples per view")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="0 keeps PyTorch's default")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(args.batch_size, 2, 128, generator=generator), dim=-1)
    labels = torch.randint(0, 10, (args.batch_size,), generator=generator)
    criterion = SupConLoss(temperature=0.1)
    modes = {"10 classes": labels, "none": None}
    for _ in range(2):
        for mode_labels in modes.values():
            timed_step(criterion, features, mode_labels)
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, mode_labels in modes.items():
            times[name].append(timed_step(criterion, features, mode_labels))
    pairs = zip(times["none"], times["10 classes"], strict=True)
    ratios = [none / labelled for none, labelled in pairs]
    threads = torch.get_num_threads()
    print(f"B = {args.batch_size} per view, {args.rounds} rounds, {threads} threads")
    print("| labels | median ms |")
    print("| --- | --- |")
    for name, values in times.items():
        print(f"| {name} | {1000 * statistics.median(values):.1f} |")
    print(f"\nunsupervised / supervised, median per-round ratio: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
