"""MoCo's shuffling BN: keys computed on a shuffled batch in parts, then put back in order.

References are written with explicit loops: the permutation drawn from the same seed, each part
encoded on its own, each key written back to the row of its input.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ddp_harness import run_ranks
from torch import nn

from contrastlab.methods import MoCoMethod
from contrastlab.methods.shuffle_bn import shuffled_forward
from contrastlab.training import distributed


def make_encoder() -> nn.Module:
    """Linear + batch norm: each key depends on the statistics of its batch-norm batch."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)).train()


def make_inputs(batch: int = 12) -> torch.Tensor:
    return torch.randn(batch, 5, generator=torch.Generator().manual_seed(1))


def loop_reference(encoder: nn.Module, inputs: torch.Tensor, splits: int, seed: int):
    permutation = torch.randperm(inputs.shape[0], generator=torch.Generator().manual_seed(seed))
    keys = torch.empty(inputs.shape[0], 4)
    start = 0
    for part in range(splits):
        size = inputs.shape[0] // splits + (part < inputs.shape[0] % splits)
        rows = permutation[start : start + size]
        encoded = encoder(inputs[rows])
        for position, row in enumerate(rows.tolist()):
            keys[row] = encoded[position]
        start += size
    return keys


@pytest.mark.parametrize(("batch", "splits"), [(12, 4), (10, 3), (12, 6)])
def test_parts_are_encoded_separately_and_put_back_in_order(batch, splits):
    encoder, inputs = make_encoder(), make_inputs(batch)
    with torch.no_grad():
        got = shuffled_forward(encoder, inputs, splits, torch.Generator().manual_seed(3))
        expected = loop_reference(encoder, inputs, splits, seed=3)
    torch.testing.assert_close(got, expected)
    # and batch norm did see different batches: the keys differ from the unshuffled ones
    assert not torch.allclose(got, encoder(inputs).detach(), atol=1e-3)


def test_one_part_or_batch_independent_encoders_change_nothing():
    encoder, inputs = make_encoder(), make_inputs()
    with torch.no_grad():
        torch.testing.assert_close(shuffled_forward(encoder, inputs, 1), encoder(inputs))
        encoder.eval()  # running statistics: the same for every part
        torch.testing.assert_close(shuffled_forward(encoder, inputs, 4), encoder(inputs))


@pytest.mark.parametrize("splits", [0, -1, 2.0, True, 13])
def test_bad_splits_are_rejected(splits):
    with pytest.raises(ValueError, match="split"):
        shuffled_forward(make_encoder(), make_inputs(12), splits)


def test_moco_uses_the_shuffled_keys():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(5, 4), nn.BatchNorm1d(4))
    inputs, labels = make_inputs(8), torch.arange(8) % 2
    losses = {}
    for splits in (1, 4):
        method = MoCoMethod(encoder, nn.Identity(), 4, queue_size=16, bn_splits=splits)
        torch.manual_seed(5)
        losses[splits] = float(method(encoder, inputs, labels).loss.detach())
        assert f"bn_splits={splits}" in repr(method)
    assert losses[1] != pytest.approx(losses[4])
    with pytest.raises(ValueError, match="bn_splits"):
        MoCoMethod(encoder, nn.Identity(), 4, bn_splits=0)


def _ddp_worker(out_dir: str) -> None:
    encoder = make_encoder()
    global_inputs = make_inputs(12)
    mine = global_inputs[distributed.rank() * 6 : (distributed.rank() + 1) * 6]
    generator = torch.Generator().manual_seed(3 + distributed.rank())  # rank 0's draw is used
    with torch.no_grad():
        keys = shuffled_forward(encoder, mine, generator=generator)
    torch.save(keys, Path(out_dir) / f"rank{distributed.rank()}.pt")


@pytest.mark.distributed
def test_two_ranks_encode_one_part_each_of_the_global_permutation(tmp_path):
    run_ranks(_ddp_worker, str(tmp_path), world_size=2, timeout_s=90)
    got = torch.cat([torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)])
    with torch.no_grad():
        expected = loop_reference(make_encoder(), make_inputs(12), splits=2, seed=3)
    torch.testing.assert_close(got, expected)
