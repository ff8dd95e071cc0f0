"""CPC method: the loss is the model's CPC InfoNCE, per-step accuracies are logged, and training
on predictable signals lifts the accuracy of picking the true future far above chance."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.losses.cpc import cpc_loss
from contrastlab.methods import CPCMethod
from contrastlab.models import CPC
from contrastlab.models.signal_networks import CPCNetwork
from contrastlab.models.signal_spec import build_signal_encoder, make_spec
from contrastlab.training.loop import fit


def tiny_cpc() -> CPC:
    return CPC(in_channels=1, latent_dim=16, context_dim=16, kernel_sizes=(4, 4), strides=(2, 2))


def tiny_method(steps: int = 3) -> CPCMethod:
    return CPCMethod(latent_dim=16, context_dim=16, prediction_steps=steps, n_negatives=8)


def sinusoids(count: int, length: int, seed: int) -> torch.Tensor:
    """Sinusoids of random frequency and phase: the future follows from the past."""
    generator = torch.Generator().manual_seed(seed)
    frequency = 0.02 + 0.1 * torch.rand(count, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(count, 1, generator=generator)
    time = torch.arange(length, dtype=torch.float32)
    return torch.sin(2 * math.pi * frequency * time + phase)[:, None, :]


def test_loss_and_accuracies_equal_the_cpc_loss_on_the_same_draw():
    model, method = tiny_cpc(), tiny_method(steps=3)
    inputs = torch.randn(4, 1, 64)
    labels = torch.zeros(4, dtype=torch.long)
    torch.manual_seed(5)
    output = method(model, inputs, labels)
    torch.manual_seed(5)  # the same negatives and anchors
    z, context = model(inputs)
    predictors = method.criterion.predictors
    loss, accuracy = cpc_loss(
        z, context, predictors, n_negatives=8, max_anchors=method.criterion.max_anchors
    )
    assert output.loss.item() == pytest.approx(loss.item(), rel=1e-6)
    assert set(output.metrics) == {"cpc_top1", "cpc_top1_step1", "cpc_top1_step2", "cpc_top1_step3"}
    for step in range(3):
        assert float(output.metrics[f"cpc_top1_step{step + 1}"]) == pytest.approx(
            100 * float(accuracy[step])
        )
    assert float(output.metrics["cpc_top1"]) == pytest.approx(100 * float(accuracy.mean()))
    assert output.batch_size == 4


def test_labels_do_not_matter():
    model, method = tiny_cpc(), tiny_method()
    inputs = torch.randn(3, 1, 64)
    losses = []
    for labels in (torch.zeros(3, dtype=torch.long), torch.tensor([4, 1, 7])):
        torch.manual_seed(0)
        losses.append(method(model, inputs, labels).loss.item())
    assert losses[0] == losses[1]


def test_model_without_latents_and_contexts_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(z \[B, T, D\], context"):
        tiny_method()(nn.Linear(4, 4), torch.randn(2, 4), torch.zeros(2, dtype=torch.long))


def test_the_signal_pipelines_cpc_network_is_accepted():
    spec = make_spec("cpc", "standardize", 1, 256, backbone_options=None)
    network = CPCNetwork(build_signal_encoder(spec))
    options = spec["backbone_options"]
    method = CPCMethod(options["latent_dim"], options["context_dim"], prediction_steps=8)
    output = method(network, torch.randn(3, 1, 256), torch.zeros(3, dtype=torch.long))
    assert torch.isfinite(output.loss)
    assert "cpc_top1_step8" in output.metrics


def test_training_learns_to_pick_the_true_future(tmp_path):
    train = LabeledTensors(sinusoids(64, 128, seed=0), torch.zeros(64, dtype=torch.long))
    model = tiny_cpc()
    config = TrainConfig(epochs=8, batch_size=16, learning_rate=0.05, progress=False)
    result = fit(model, tiny_method(steps=2), train, config, tmp_path)
    chance = 100 / (8 + 1)
    last = result.history[-1]
    assert last["loss"] < result.history[0]["loss"]
    assert last["cpc_top1_step1"] > 4 * chance
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"cpc_top1", "cpc_top1_step1", "cpc_top1_step2"} <= set(logged)
