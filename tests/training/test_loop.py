"""The shared training loop: exact resume, NaN guard, logging, batching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from contrastlab.config.options import build_config
from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods.contract import StepOutput, TrainingDivergedError
from contrastlab.training.batches import count_batches, epoch_batches
from contrastlab.training.checkpoint import load_checkpoint
from contrastlab.training.loop import fit


class NoisyClassification(nn.Module):
    """A method that draws from the global RNG every step, like an augmentation does."""

    def __init__(self, explode_at_epoch: int | None = None) -> None:
        super().__init__()
        self.explode_at_epoch = explode_at_epoch
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, model, inputs, labels):
        self.steps += 1
        logits = model(inputs + 0.3 * torch.randn_like(inputs))
        loss = F.cross_entropy(logits, labels)
        if self.explode_at_epoch is not None and int(self.steps) > 4 * (self.explode_at_epoch - 1):
            loss = loss * float("nan")
        return StepOutput(loss=loss, metrics={"noise_check": 1.0}, batch_size=len(labels))


def make_data(n: int = 64) -> LabeledTensors:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(n, 5, generator=generator)
    labels = (inputs[:, 0] > 0).long() + (inputs[:, 1] > 0).long()
    return LabeledTensors(inputs, labels)


def make_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def config(**overrides) -> TrainConfig:
    values = dict(
        epochs=4,
        batch_size=16,
        learning_rate=0.1,
        cosine=True,
        warm=True,
        warm_epochs=1,
        save_freq=2,
        progress=False,
        seed=3,
    )
    values.update(overrides)
    return build_config(TrainConfig, values)


def test_resume_equals_an_uninterrupted_run(tmp_path: Path):
    straight_model = make_model()
    fit(straight_model, NoisyClassification(), make_data(), config(), tmp_path / "straight")

    interrupted_model = make_model()
    fit(
        interrupted_model,
        NoisyClassification(),
        make_data(),
        config(epochs=4),
        tmp_path / "cut",
        checkpoint_extra=None,
    )
    # Re-run epochs 3-4 from the epoch-2 checkpoint in a fresh model and method.
    resumed_model = make_model()
    result = fit(
        resumed_model,
        NoisyClassification(),
        make_data(),
        config(resume=str(tmp_path / "cut" / "ckpt_epoch_2.pth")),
        tmp_path / "cut",
    )
    for expected, actual in zip(
        straight_model.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(expected, actual)
    assert [record["epoch"] for record in result.history] == [1, 2, 3, 4]
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_training_reduces_the_loss_and_logs_every_epoch(tmp_path: Path):
    result = fit(make_model(), NoisyClassification(), make_data(), config(epochs=6), tmp_path)
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < 0.8 * losses[0]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 7))
    assert {"loss", "lr", "noise_check", "epoch_seconds"} <= set(records[0])
    assert any((tmp_path / "tensorboard").iterdir())
    assert (tmp_path / "config.yaml").is_file()
    saved = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert saved == ["ckpt_epoch_2.pth", "ckpt_epoch_4.pth", "ckpt_epoch_6.pth", "last.pth"]
    checkpoint = load_checkpoint(tmp_path / "last.pth")
    assert checkpoint["epoch"] == 6 and checkpoint["config"]["batch_size"] == 16
    assert {"optimizer", "scaler", "rng", "method", "history"} <= set(checkpoint)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path: Path):
    with pytest.raises(TrainingDivergedError, match=r"NaN or infinite in epoch 3.*last good"):
        fit(make_model(), NoisyClassification(explode_at_epoch=3), make_data(), config(), tmp_path)
    assert load_checkpoint(tmp_path / "last.pth")["epoch"] == 2


def test_resume_from_a_checkpoint_without_optimizer_state_is_refused(tmp_path: Path):
    torch.save({"model": make_model().state_dict()}, tmp_path / "weights.pth")
    with pytest.raises(ValueError, match="cannot be resumed"):
        fit(
            make_model(),
            NoisyClassification(),
            make_data(),
            config(resume=str(tmp_path / "weights.pth")),
            tmp_path / "run",
        )


def test_epoch_batches_are_a_deterministic_partition():
    batches = list(epoch_batches(50, 16, seed=1, epoch=3))
    assert len(batches) == count_batches(50, 16) == 3
    seen = torch.cat(batches)
    assert len(set(seen.tolist())) == 48  # drop_last: 3 full batches, no repeats
    assert all(torch.equal(a, b) for a, b in zip(batches, epoch_batches(50, 16, 1, 3), strict=True))
    assert not torch.equal(batches[0], next(epoch_batches(50, 16, seed=1, epoch=4)))
    assert [len(b) for b in epoch_batches(10, 16, seed=0, epoch=1)] == [10]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"learning_rate": -1.0}, "--learning_rate"),
        ({"precision": "8-bit"}, "--precision"),
        ({"optimizer": "adam"}, "--optimizer must be one of"),
        ({"bogus": 1}, "unknown option"),
    ],
)
def test_bad_configuration_is_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_adamw_trains_and_resumes_exactly(tmp_path: Path):
    adamw = {"optimizer": "adamw", "learning_rate": 0.01}
    straight_model = make_model()
    straight = fit(straight_model, NoisyClassification(), make_data(), config(**adamw),
                   tmp_path / "straight")  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "straight" / "ckpt_epoch_2.pth")
    assert "exp_avg_sq" in checkpoint["optimizer"]["state"][0]  # AdamW's second moment
    assert checkpoint["config"]["optimizer"] == "adamw"
    assert straight.history[-1]["loss"] < straight.history[0]["loss"]

    resumed_model = make_model()
    resumed = fit(resumed_model, NoisyClassification(), make_data(),
                  config(**adamw, resume=str(tmp_path / "straight" / "ckpt_epoch_2.pth")),
                  tmp_path / "resumed")  # fmt: skip
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for expected, actual in zip(
        straight_model.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(expected, actual)


def test_resume_with_another_optimizer_is_refused_and_leaves_the_run_as_it_was(tmp_path: Path):
    run_dir = tmp_path / "run"
    fit(make_model(), NoisyClassification(), make_data(), config(epochs=1), run_dir)
    saved = (run_dir / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"--optimizer sgd.*--optimizer adamw"):
        fit(make_model(), NoisyClassification(), make_data(),
            config(optimizer="adamw", resume=str(run_dir / "last.pth")), run_dir)  # fmt: skip
    assert (run_dir / "config.yaml").read_text() == saved  # still the run's own options


class CountingCrossEntropy(nn.Module):
    """Cross-entropy with a device-side metric; records the host syncs of each of its steps."""

    def forward(self, model, inputs, labels):
        logits = model(inputs)
        top1 = (logits.detach().argmax(dim=1) == labels).float().mean() * 100
        return StepOutput(F.cross_entropy(logits, labels), {"top1": top1}, len(labels))


def _signal_simclr():
    """A bearing-style SimCLR step: physical and generic views, FFT front-end, band MLP."""
    from contrastlab.data.signal_views import signal_views_augment
    from contrastlab.methods import ContrastiveViewsMethod
    from contrastlab.models.signal_spec import build_projection_network, make_spec

    torch.manual_seed(0)
    network = build_projection_network(make_spec("mlp", "fft", 1, 256, feat_dim=8))
    method = ContrastiveViewsMethod(signal_views_augment(256), method="simclr", temperature=0.5)
    data = LabeledTensors(torch.randn(128, 1, 256), torch.zeros(128, dtype=torch.long))
    return network, method, data


def _classification():
    return make_model(), CountingCrossEntropy(), make_data(128)


@pytest.mark.parametrize("setup", [_classification, _signal_simclr])
def test_training_steps_do_not_wait_for_the_device(setup, tmp_path: Path, monkeypatch):
    """Between two reads (every --print_freq steps) a step never synchronises: schedule, batch,
    views, forward, loss, backward, optimizer and the running sums all stay on the device."""
    from contrastlab._host_sync import HostSyncCounter
    from contrastlab.training import loop

    counters: list[HostSyncCounter] = []
    original_read = loop._read_and_guard

    def read_outside_the_counter(*args, **kwargs):
        counters[-1].__exit__(None, None, None)
        result = original_read(*args, **kwargs)
        counters.append(HostSyncCounter())
        counters[-1].__enter__()
        return result

    monkeypatch.setattr(loop, "_read_and_guard", read_outside_the_counter)
    counters.append(HostSyncCounter())
    counters[-1].__enter__()
    try:
        model, method, data = setup()
        fit(model, method, data, config(epochs=1, batch_size=8, print_freq=4, save_freq=5),
            tmp_path)  # fmt: skip
    finally:
        counters[-1].__exit__(None, None, None)
    steps = counters[:-1]  # each spans 4 training steps
    assert len(steps) == 128 // 8 // 4
    assert all(c.count == 0 for c in steps), [dict(c.operations) for c in steps]


def test_a_diverged_step_is_caught_at_the_next_read(tmp_path: Path):
    """The NaN is seen at the read after it: here the epoch's end (4 steps < --print_freq 8)."""
    with pytest.raises(TrainingDivergedError, match=r"epoch 3 \(by step 4"):
        fit(make_model(), NoisyClassification(explode_at_epoch=3), make_data(), config(
            print_freq=8), tmp_path)  # fmt: skip


def test_the_best_epoch_by_a_metric_is_kept_and_known_after_resume(tmp_path: Path):
    """best.pth holds the weights of the epoch with the largest figure (the earlier on a tie);
    a resumed run compares with the epochs before it."""
    from contrastlab.training.loop import BEST_CHECKPOINT, best_epoch

    scores = {1: 50.0, 2: 70.0, 3: 70.0, 4: 60.0, 5: 65.0}
    weights: dict[int, torch.Tensor] = {}

    def evaluate(model: nn.Module, epoch: int) -> dict[str, float]:
        weights[epoch] = model[0].weight.detach().clone()
        return {"val_top1": scores[epoch]}

    result = fit(make_model(), NoisyClassification(), make_data(), config(), tmp_path,
                 evaluate=evaluate, best_metric="val_top1")  # fmt: skip
    assert best_epoch(result.history, "val_top1")["epoch"] == 2
    best = load_checkpoint(tmp_path / BEST_CHECKPOINT)
    assert best["epoch"] == 2 and best["val_top1"] == 70.0
    torch.testing.assert_close(best["model"]["0.weight"], weights[2])
    resumed = config(epochs=5, resume=str(tmp_path / "last.pth"))
    fit(make_model(), NoisyClassification(), make_data(), resumed, tmp_path, evaluate=evaluate,
        best_metric="val_top1")  # fmt: skip
    assert load_checkpoint(tmp_path / BEST_CHECKPOINT)["epoch"] == 2  # epoch 5's 65 < 70


def test_on_cuda_the_methods_copies_of_the_network_turn_channels_last_with_it() -> None:
    """MoCo's key encoder follows the query network's layout (the momentum update pairs them);
    only the layout is set here, so the CPU stands in for the CUDA device."""
    from contrastlab.methods import MoCoMethod
    from contrastlab.training.loop import _prepare_network

    encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(8))
    encoder(torch.randn(1, 3, 6, 6))
    method = MoCoMethod(encoder, nn.Identity(), feature_dim=8, queue_size=16)
    config = build_config(TrainConfig, {"epochs": 1, "batch_size": 2})
    network = _prepare_network(encoder, method, config, torch.device("cuda"))
    channels_last = torch.channels_last
    assert network[0].weight.is_contiguous(memory_format=channels_last)
    assert method.key_encoder[0].weight.is_contiguous(memory_format=channels_last)
    assert method.queue.is_contiguous()  # 2-D buffers are left as they are
