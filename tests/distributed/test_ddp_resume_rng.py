"""Resuming a 2-process run continues every rank's own random stream.

Each rank draws its own augmentation noise, and the gradients are averaged across ranks, so the
shared weights depend on every rank's draws. A run resumed from its epoch-1 checkpoint must end
with exactly the weights of the uninterrupted run; a checkpoint without per-rank states (an older
one, or one saved with another world size) resumes with fresh seeds on rank 1, a warning, and
different weights: that is what would go unnoticed if only rank 0's state were saved.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from ddp_harness import make_model, run_ranks
from test_ddp_fit import make_config, make_data
from torch import nn

from contrastlab.methods import ContrastiveViewsMethod
from contrastlab.training import distributed
from contrastlab.training.loop import fit

pytestmark = pytest.mark.distributed


class RandomNoise(nn.Module):
    """A random view: the image plus Gaussian noise from the global torch generator."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.3 * torch.randn_like(x)


def _train(out: Path, name: str, resume: str | None) -> dict[str, torch.Tensor]:
    model = make_model()
    method = ContrastiveViewsMethod(RandomNoise(), method="supcon", temperature=0.1)
    config = make_config(4, epochs=3, resume=resume)
    fit(model, method, make_data(), config, out / name)
    return {key: value.clone() for key, value in model.state_dict().items()}


def _resume_worker(out_dir: str) -> None:
    out = Path(out_dir)
    results: dict[str, object] = {"straight": _train(out, "straight", None)}
    checkpoint_path = out / "straight" / "ckpt_epoch_1.pth"
    results["resumed"] = _train(out, "resumed", str(checkpoint_path))
    if distributed.rank() == 0:
        checkpoint = torch.load(checkpoint_path, weights_only=True)
        results["saved_ranks"] = len(checkpoint["rng_per_rank"])
        del checkpoint["rng_per_rank"]
        torch.save(checkpoint, out / "without_per_rank.pth")
    distributed.barrier()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results["fallback"] = _train(out, "fallback", str(out / "without_per_rank.pth"))
    results["warned"] = any("RNG state" in str(warning.message) for warning in caught)
    torch.save(results, out / f"rank{distributed.rank()}.pt")


@pytest.fixture(scope="module")
def per_rank_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_rng")
    run_ranks(_resume_worker, str(out), world_size=2, timeout_s=150)
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(2)]


def test_resumed_run_repeats_the_uninterrupted_one(per_rank_results):
    assert per_rank_results[0]["saved_ranks"] == 2
    for results in per_rank_results:
        for name, value in results["straight"].items():
            torch.testing.assert_close(results["resumed"][name], value, rtol=0, atol=0, msg=name)


def test_checkpoint_without_per_rank_states_warns_and_diverges(per_rank_results):
    assert per_rank_results[0]["warned"] and not per_rank_results[1]["warned"]
    straight, fallback = per_rank_results[0]["straight"], per_rank_results[0]["fallback"]
    differences = [
        float((fallback[name] - value).abs().max())
        for name, value in straight.items()
        if value.is_floating_point()
    ]
    assert max(differences) > 1e-4
