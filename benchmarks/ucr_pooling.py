"""UCR ablation: how TS2Vec's per-timestamp representations are pooled into SVM features.

    python benchmarks/ucr_pooling.py --dataset ArrowHead --seeds 0 1 2 3 4
    python benchmarks/ucr_pooling.py --dataset OSULeaf --seeds 0 1 2 --data DIR   # .ts files

For every seed the encoder is pretrained once exactly as ``contrastlab ucr --method ts2vec
--seed S`` does (same recipe, same loop, so the same weights with ``--threads 1``); pooling
happens after training and does not change it. The frozen representations ``r [N, L, 320]`` of
the official train and test series are then pooled in several ways and each pooling is scored
by TS2Vec's SVM protocol (:func:`contrastlab.evaluation.svm.svm_accuracy`):

- ``max``: the maximum over all timestamps (TS2Vec's full-series encoding);
- ``mean``, ``max+mean``: the mean over time, and both concatenated;
- ``pyramid 1,2`` ... ``pyramid 1,2,4,8,16``: temporal pyramid max pooling
  (:func:`contrastlab.models.pyramid_pooling.temporal_pyramid_max`);
- ``cv``: the recipe's ``--ts2vec_pooling cv``, the prefix of the pyramid that cross-validation on
  the official training split keeps (:mod:`contrastlab.evaluation.pyramid_selection`); the same
  figure as the run's ``summary.json``.

Prints one markdown table (mean ± sample std over the seeds and every seed's figure) and writes
it with the raw figures as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from contrastlab.evaluation.pyramid_selection import select_pyramid_depth
from contrastlab.evaluation.svm import svm_accuracy
from contrastlab.models.pyramid_pooling import temporal_pyramid_max
from contrastlab.pipelines.ucr import TS2VEC_DEFAULTS, UCRConfig, pretrain_ucr

Pooling = Callable[[torch.Tensor], torch.Tensor]

PYRAMIDS = ((1, 2), (1, 2, 4), (1, 2, 4, 8), (1, 2, 4, 8, 16))
POOLINGS: dict[str, Pooling] = {
    "max": lambda r: r.amax(dim=1),
    "mean": lambda r: r.mean(dim=1),
    "max+mean": lambda r: torch.cat([r.amax(dim=1), r.mean(dim=1)], dim=1),
    **{
        f"pyramid {','.join(map(str, levels))}": (
            lambda r, levels=levels: temporal_pyramid_max(r, levels)
        )
        for levels in PYRAMIDS
    },
}
# Series must be at least as long as a pooling's finest level has segments.
MIN_LENGTH = {f"pyramid {','.join(map(str, levels))}": max(levels) for levels in PYRAMIDS}


@torch.no_grad()
def timestamp_representations(encoder: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``[N, C, L] -> r [N, L, D]``: the frozen encoder's unmasked per-timestamp output."""
    encoder.eval()
    return torch.cat([encoder.timestamps(batch) for batch in inputs.split(256)])


def run_seed(dataset: str, data_dir: str | None, seed: int) -> dict[str, float]:
    """Pretrain as ``contrastlab ucr --method ts2vec --seed seed``; SVM accuracy per pooling."""
    config = UCRConfig(
        dataset=dataset, data=data_dir, method="ts2vec", seed=seed, threads=1, progress=False,
        tsne=False, **TS2VEC_DEFAULTS,  # type: ignore[arg-type]
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as run_dir:
        pretrained = pretrain_ucr(config, Path(run_dir))
    encoder, train, data = pretrained.encoder, pretrained.official_train, pretrained.data
    length = int(train.inputs.shape[2])
    train_r = timestamp_representations(encoder, train.inputs)
    test_r = timestamp_representations(encoder, data.test.inputs)
    scores = {
        name: svm_accuracy(pool(train_r), train.labels, pool(test_r), data.test.labels, seed)[0]
        for name, pool in POOLINGS.items()
        if length >= MIN_LENGTH.get(name, 1)
    }
    pyramid = pretrained.config.ts2vec_pyramid  # the recipe's, cut to the levels that fit
    train_f, test_f = temporal_pyramid_max(train_r, pyramid), temporal_pyramid_max(test_r, pyramid)
    chosen = select_pyramid_depth(train_f, train.labels, pyramid, seed).columns
    scores["cv"] = svm_accuracy(
        train_f[:, :chosen], train.labels, test_f[:, :chosen], data.test.labels, seed
    )[0]
    return scores


def markdown_table(dataset: str, results: dict[int, dict[str, float]]) -> str:
    seeds = sorted(results)
    lines = [
        f"{dataset}, SVM test accuracy (%), seeds {', '.join(map(str, seeds))}:",
        "",
        "| pooling | mean ± std | per seed |",
        "| --- | --- | --- |",
    ]
    for name in results[seeds[0]]:
        values = [results[seed][name] for seed in seeds]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        per_seed = ", ".join(f"{value:.2f}" for value in values)
        lines.append(f"| {name} | {statistics.mean(values):.2f} ± {spread:.2f} | {per_seed} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ArrowHead", help="UCR set (default ArrowHead)")
    parser.add_argument("--data", default=None, help="folder of .ts files (default: aeon's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=None, help="JSON file for the table and raw figures")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    results = {}
    for seed in args.seeds:
        results[seed] = run_seed(args.dataset, args.data, seed)
        print(f"seed {seed}: {json.dumps(results[seed])}", file=sys.stderr, flush=True)
    table = markdown_table(args.dataset, results)
    print(table)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.out:
        Path(args.out).write_text(json.dumps({"table": table, "results": results}, indent=2))


if __name__ == "__main__":
    main()
