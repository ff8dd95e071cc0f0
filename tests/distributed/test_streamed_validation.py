"""Streamed ``ce`` validation shared by two processes (gloo, CPU): each rank scores its share of
the val files, yet the figure is that of rank 0's network (the one checkpoints hold) on the whole
split, even when the ranks' BatchNorm statistics differ, as they do after each rank's last
training batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ddp_harness import run_ranks
from torch import nn

from contrastlab.config.image import CEConfig
from contrastlab.data.image_augment import EvalImageTransform
from contrastlab.data.image_folder import list_image_files
from contrastlab.data.image_stream_splits import listing_subset, load_streamed_splits
from contrastlab.models.image_network import build_ce_network
from contrastlab.pipelines.cross_entropy import SplitScores, streamed_scores, top1_counts
from contrastlab.training import distributed
from image_files import write_images

pytestmark = [pytest.mark.distributed]
SPEC = {"model": "smallcnn", "class_names": ["cat", "dog", "eel"], "size": 8,
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}  # fmt: skip


def network_of_rank(rank: int) -> nn.Module:
    """The same weights on every rank; BatchNorm running means shifted by 3 x rank."""
    torch.manual_seed(3)  # weights whose predictions on rank 1's share move with the shift
    network = build_ce_network(SPEC)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.fill_(3.0 * rank)
    return network.eval()


def config(root: str) -> CEConfig:
    return CEConfig(dataset="folder", data_folder=root, size=8, workers=0, eval_batch_size=4,
                    progress=False)  # fmt: skip


def _worker(root: str, out_dir: str) -> None:
    data = load_streamed_splits(list_image_files(root), 8, 0, 0, "error", progress=False)
    scores = SplitScores(data, config(root), EvalImageTransform(8, SPEC["mean"], SPEC["std"]))
    top1 = scores.val_top1(network_of_rank(distributed.rank()))
    (Path(out_dir) / f"rank{distributed.rank()}.json").write_text(json.dumps(top1))


def test_the_shared_validation_scores_rank_0s_network_on_the_whole_split(tmp_path: Path) -> None:
    root = write_images(tmp_path / "images", 60)
    run_ranks(_worker, str(root), str(tmp_path), world_size=2)
    figures = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    data = load_streamed_splits(list_image_files(root), 8, 0, 0, "error", progress=False)

    def counts(rank: int, listing) -> tuple[int, int]:
        """Top-1 counts of rank ``rank``'s network on ``listing``, in this process."""
        scores = SplitScores(data, config(str(root)), nn.Identity())
        transform = EvalImageTransform(8, SPEC["mean"], SPEC["std"])
        return top1_counts(
            streamed_scores(network_of_rank(rank), listing, transform, config(str(root)),
                            scores.bad_files)
        )  # fmt: skip

    correct, total = counts(0, data.val)
    assert total == len(data.val) == 9
    assert figures == [100.0 * correct / total] * 2
    rank_1_share = listing_subset(data.val, range(1, 9, 2))
    assert counts(1, rank_1_share) != counts(0, rank_1_share)  # the shift changes its verdicts


def _failing_worker(root: str, out_dir: str) -> None:
    data = load_streamed_splits(list_image_files(root), 8, 0, 0, "error", progress=False)
    scores = SplitScores(data, config(root), EvalImageTransform(8, SPEC["mean"], SPEC["std"]))
    if distributed.rank() == 1:  # e.g. a file whose header reads but whose pixels do not

        def fail(*args: object) -> None:
            raise ValueError("cannot read image dog/x.png: broken data stream")

        scores._scores = fail  # type: ignore[method-assign]
    try:
        scores.val_top1(network_of_rank(0))
        outcome = "no error"
    except ValueError as error:
        outcome = str(error)
    (Path(out_dir) / f"rank{distributed.rank()}.json").write_text(json.dumps(outcome))


def test_an_error_on_one_rank_is_every_ranks_error(tmp_path: Path) -> None:
    root = write_images(tmp_path / "images", 30)
    run_ranks(_failing_worker, str(root), str(tmp_path), world_size=2)
    outcomes = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert outcomes == ["cannot read image dog/x.png: broken data stream"] * 2
