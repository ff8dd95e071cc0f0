"""TS2Vec as a method: the loss of one step against the crops and loss computed by hand, training
through the shared loop (loss falls, checkpoint holds the weight average), the running average by
hand, model errors and divergence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from contrastlab.config.training import TrainConfig
from contrastlab.data.overlapping_crops import sample_overlapping_crops, take_crops
from contrastlab.data.splits import LabeledTensors
from contrastlab.losses import hierarchical_contrastive_loss
from contrastlab.methods import TS2VecMethod
from contrastlab.methods.contract import TrainingDivergedError
from contrastlab.models.ts2vec import TS2VecEncoder
from contrastlab.training.checkpoint import load_checkpoint
from contrastlab.training.loop import fit


def small_encoder() -> TS2VecEncoder:
    return TS2VecEncoder(1, hidden_dim=8, repr_dim=6, depth=2, dropout=0.0)


def test_step_equals_the_loss_on_the_overlap_of_the_same_crops() -> None:
    model = small_encoder().eval()  # no mask: both computations see the same network
    x = torch.randn(5, 1, 20)
    torch.manual_seed(7)
    output = TS2VecMethod(variable_length=True)(model, x, torch.zeros(5, dtype=torch.long))
    torch.manual_seed(7)
    crops = sample_overlapping_crops(5, 20)
    z1 = model(take_crops(x, crops.view1_starts, crops.view1_length))[:, -crops.overlap :]
    z2 = model(take_crops(x, crops.view2_starts, crops.view2_length))[:, : crops.overlap]
    torch.testing.assert_close(output.loss, hierarchical_contrastive_loss(z1, z2))
    assert output.metrics["overlap"] == crops.overlap and output.batch_size == 5


def test_running_average_by_hand() -> None:
    model = nn.Linear(2, 1)
    method = TS2VecMethod(average_of=model)
    seen = []
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            model.weight.fill_(value)
        seen.append(value)
        method.update_average(model)
        assert method.averaged.weight.flatten().tolist() == [sum(seen) / len(seen)] * 2
        assert not method.averaged.weight.requires_grad
    assert int(method.n_averaged) == 3
    with pytest.raises(ValueError, match="architecture"):
        method.update_average(nn.Linear(3, 1))


def test_training_through_the_shared_loop(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    phase = torch.rand(24, 1, 1, generator=generator) * 6.28
    times = torch.linspace(0, 6.28, 32)
    classes = torch.arange(24) % 2
    x = torch.sin((1 + classes[:, None, None]) * times + phase)
    model = small_encoder()
    method = TS2VecMethod(average_of=model)
    config = TrainConfig(epochs=6, batch_size=8, learning_rate=0.01, progress=False)
    result = fit(model, method, LabeledTensors(x, classes), config, tmp_path)
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < losses[0]
    assert int(method.n_averaged) == 6 * 3
    state = load_checkpoint(tmp_path / "last.pth")["method"]
    assert int(state["n_averaged"]) == 18
    torch.testing.assert_close(state["averaged.blocks.0.conv1.weight"],
                               method.averaged.blocks[0].conv1.weight)  # fmt: skip
    assert not torch.equal(method.averaged.blocks[0].conv1.weight, model.blocks[0].conv1.weight)


def test_model_must_give_one_representation_per_timestamp() -> None:
    pooled = nn.AdaptiveAvgPool1d(1)  # [B, C, L'] -> [B, C, 1]: no timestamps left
    with pytest.raises(ValueError, match=r"map \[B, C, L'\] to \[B, L', D\]"):
        TS2VecMethod()(pooled, torch.randn(3, 1, 10), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"series \[B, C, L\]"):
        TS2VecMethod()(small_encoder(), torch.randn(3, 10), torch.zeros(3, dtype=torch.long))


def test_diverged_representations_give_a_non_finite_loss_not_an_exception() -> None:
    """The step checks nothing on the device (the crop sizes are drawn on the host); the loop
    sees the NaN loss at its next read and stops with the method's advice (tested below)."""
    model = small_encoder()
    with torch.no_grad():
        model.blocks[-1].conv2.bias.fill_(float("inf"))
    loss = TS2VecMethod()(model, torch.randn(3, 1, 10), torch.zeros(3, dtype=torch.long)).loss
    assert not torch.isfinite(loss)


class CropRecorder(nn.Module):
    """Records every crop the method passes to the model; returns ``[B, L', 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.crops: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.crops.append(x.detach().clone())
        return (x * self.weight).transpose(1, 2)


def test_padded_batches_are_cropped_inside_each_series() -> None:
    lengths = torch.tensor([20, 6, 13, 20])
    x = torch.randn(4, 2, 20)
    x[torch.arange(20) >= lengths[:, None, None].expand(4, 2, 20)] = float("nan")
    model = CropRecorder()
    for _ in range(50):
        method = TS2VecMethod(variable_length=True)
        assert torch.isfinite(method(model, x, torch.zeros(4, dtype=torch.long)).loss)
    assert len(model.crops) == 100 and not any(crop.isnan().any() for crop in model.crops)
    assert max(crop.shape[2] for crop in model.crops) <= 6  # the shortest series sets the shape


def test_padded_step_equals_the_loss_on_crops_drawn_within_the_lengths() -> None:
    model = small_encoder().eval()
    lengths = torch.tensor([20, 9, 15, 11, 20])
    x = torch.randn(5, 1, 20)
    x[torch.arange(20) >= lengths[:, None, None]] = float("nan")
    torch.manual_seed(7)
    output = TS2VecMethod(variable_length=True)(model, x, torch.zeros(5, dtype=torch.long))
    torch.manual_seed(7)
    crops = sample_overlapping_crops(5, 20, lengths=lengths)
    z1 = model(take_crops(x, crops.view1_starts, crops.view1_length))[:, -crops.overlap :]
    z2 = model(take_crops(x, crops.view2_starts, crops.view2_length))[:, : crops.overlap]
    torch.testing.assert_close(output.loss, hierarchical_contrastive_loss(z1, z2))


def test_a_diverged_ts2vec_loss_advises_adamw_not_a_temperature(tmp_path) -> None:
    """The loop's divergence message takes the method's advice: TS2Vec has no --temp."""
    from contrastlab.config.training import TrainConfig
    from contrastlab.data.splits import LabeledTensors
    from contrastlab.training.loop import fit

    class NaNLoss(TS2VecMethod):
        def forward(self, model, inputs, labels):
            output = super().forward(model, inputs, labels)
            output.loss = output.loss * float("nan")
            return output

    train = LabeledTensors(torch.randn(8, 1, 32), torch.zeros(8, dtype=torch.long))
    encoder = TS2VecEncoder(1, hidden_dim=4, repr_dim=4, depth=1)
    config = TrainConfig(epochs=1, batch_size=8, progress=False)
    with pytest.raises(TrainingDivergedError, match="--optimizer adamw") as error:
        fit(encoder, NaNLoss(), train, config, tmp_path)
    assert "--temp" not in str(error.value)
