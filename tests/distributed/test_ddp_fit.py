"""The training loop under DDP: 2 gloo processes (SyncBN, resumed from a mid-run checkpoint)
against one process trained straight through on the same global batches; rank-0-only outputs;
mixed precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ddp_harness import AlternatingFlip, make_model, run_ranks

from contrastlab.config.options import build_config
from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods import ContrastiveViewsMethod, MoCoMethod
from contrastlab.training import distributed
from contrastlab.training.loop import fit

pytestmark = pytest.mark.distributed

GLOBAL_BATCH = 8


def make_data() -> LabeledTensors:
    generator = torch.Generator().manual_seed(2)
    return LabeledTensors(torch.randn(16, 1, 8, 8, generator=generator), torch.arange(16) % 4)


def make_config(batch_size: int, **overrides) -> TrainConfig:
    values = {
        "epochs": 2,
        "batch_size": batch_size,
        "learning_rate": 0.05,
        "cosine": True,
        "save_freq": 1,
        "progress": False,
        "device": "cpu",
        "seed": 0,
    }
    values.update(overrides)
    return build_config(TrainConfig, values)


def make_method(kind: str, model):
    if kind == "moco":
        return MoCoMethod(model, AlternatingFlip(), feature_dim=16, queue_size=12, temperature=0.1)
    return ContrastiveViewsMethod(AlternatingFlip(), method="supcon", temperature=0.1)


def _fit_worker(out_dir: str) -> None:
    out = Path(out_dir)
    per_rank = GLOBAL_BATCH // distributed.world_size()
    states = {}
    for kind in ("supcon", "moco"):
        run_dir = out / f"ddp-{kind}"
        # Two epochs, then epoch 2 again from the epoch-1 checkpoint in a fresh model and method.
        for resume in (None, str(run_dir / "ckpt_epoch_1.pth")):
            model = make_model()
            method = make_method(kind, model)
            fit(
                model,
                method,
                make_data(),
                make_config(per_rank, syncBN=True, resume=resume),
                run_dir,
            )
        states[kind] = {"model": model.state_dict(), "method": method.state_dict()}
    for precision in ("16-mixed", "bf16-mixed"):
        model = make_model()
        result = fit(
            model,
            make_method("supcon", model),
            make_data(),
            make_config(per_rank, epochs=1, precision=precision, syncBN=True),
            out / f"ddp-{precision}",
        )
        states[precision] = result.history[-1]["loss"]
    torch.save(states, out / f"rank{distributed.rank()}.pt")


@pytest.fixture(scope="module")
def fit_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_fit")
    run_ranks(_fit_worker, str(out), world_size=2, timeout_s=150)
    per_rank = [torch.load(out / f"rank{rank}.pt") for rank in range(2)]
    single = {}
    for kind in ("supcon", "moco"):
        model = make_model()
        method = make_method(kind, model)
        fit(model, method, make_data(), make_config(GLOBAL_BATCH), out / f"single-{kind}")
        single[kind] = {"model": model.state_dict(), "method": method.state_dict()}
    return out, single, per_rank


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", ["supcon", "moco"])
def test_resumed_two_process_run_equals_one_process_run(fit_results, kind):
    out, single, per_rank = fit_results
    for results in per_rank:  # DDP keeps the ranks' weights identical
        for part in ("model", "method"):
            expected = single[kind][part]
            assert results[kind][part].keys() == expected.keys()
            for name, value in expected.items():
                torch.testing.assert_close(
                    results[kind][part][name], value, rtol=1e-5, atol=1e-5, msg=name
                )
    ddp_metrics, single_metrics = _metrics(out / f"ddp-{kind}"), _metrics(out / f"single-{kind}")
    assert [m["epoch"] for m in ddp_metrics] == [1, 2]
    for got, expected in zip(ddp_metrics, single_metrics, strict=True):
        assert got["loss"] == pytest.approx(expected["loss"], abs=1e-5)
        assert got["lr"] == pytest.approx(expected["lr"])


def test_only_rank_zero_writes_the_run_directory(fit_results):
    out, _, _ = fit_results
    run_dir = out / "ddp-supcon"
    files = sorted(path.name for path in run_dir.iterdir())
    assert files == [
        "ckpt_epoch_1.pth",
        "ckpt_epoch_2.pth",
        "config.yaml",
        "last.pth",
        "metrics.jsonl",
        "tensorboard",
    ]
    assert len(_metrics(run_dir)) == 2  # one line per epoch, not one per rank
    checkpoint = torch.load(run_dir / "last.pth", weights_only=True)
    assert checkpoint["epoch"] == 2
    assert not any(key.startswith("module.") for key in checkpoint["model"])


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_under_ddp_gives_finite_equal_losses(fit_results, precision):
    _, _, per_rank = fit_results
    losses = [results[precision] for results in per_rank]
    assert all(torch.isfinite(torch.tensor(loss)) for loss in losses)
    assert losses[0] == losses[1]  # averaged over ranks before logging
