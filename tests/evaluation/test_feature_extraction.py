"""extract_features: batching, eval mode without gradients, mode restored, transform applied."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlab.data.splits import DataSplits, LabeledTensors
from contrastlab.evaluation.features import encode_splits, extract_features


class ModeRecorder(nn.Module):
    """Flattens [B, C, L] to [B, C * L] through a linear layer; records train flag and grad mode."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 4)
        self.dropout = nn.Dropout(0.5)
        self.calls: list[tuple[int, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[0], self.training, torch.is_grad_enabled()))
        return self.dropout(self.linear(x.flatten(1))).unsqueeze(-1)  # [B, 4, 1]


def test_matches_one_big_batch_in_eval_mode() -> None:
    torch.manual_seed(0)
    encoder = ModeRecorder()
    encoder.train()
    encoder.linear.eval()  # a mixed state (e.g. a frozen submodule) must come back as it was
    inputs = torch.randn(10, 2, 3)
    features = extract_features(encoder, inputs, batch_size=4)
    assert features.shape == (10, 4)
    assert features.dtype == torch.float32
    assert not features.requires_grad
    assert [batch for batch, _, _ in encoder.calls] == [4, 4, 2]
    assert all(not training and not grad for _, training, grad in encoder.calls)
    assert encoder.training and encoder.dropout.training and not encoder.linear.training
    expected = encoder.linear(inputs.flatten(1)).detach()  # dropout is off in eval mode
    torch.testing.assert_close(features, expected)


def test_transform_is_applied_per_batch() -> None:
    encoder = nn.Flatten()
    inputs = torch.arange(12, dtype=torch.uint8).reshape(4, 3)
    features = extract_features(encoder, inputs, batch_size=3, transform=lambda x: x.float() / 2)
    torch.testing.assert_close(features, inputs.float() / 2)


@pytest.mark.parametrize(
    ("encoder", "inputs", "batch_size", "match"),
    [
        ("not a module", torch.zeros(2, 3), 2, "encoder"),
        (nn.Identity(), torch.zeros(0, 3), 2, "non-empty"),
        (nn.Identity(), [1, 2], 2, "inputs"),
        (nn.Identity(), torch.zeros(2, 3), 0, "batch_size"),
    ],
)
def test_rejects_bad_input(encoder: object, inputs: object, batch_size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        extract_features(encoder, inputs, batch_size=batch_size)  # type: ignore[arg-type]


def test_encode_splits_encodes_the_named_splits() -> None:
    def split(n: int) -> LabeledTensors:
        return LabeledTensors(torch.randn(n, 2, 3), torch.zeros(n, dtype=torch.long))

    data = DataSplits(split(5), split(3), split(4), class_names=["a"])
    encoder = nn.Flatten()
    features = encode_splits(encoder, data, batch_size=2, transform=lambda x: 2 * x)
    assert list(features) == ["train", "val", "test"]
    for name, values in features.items():
        torch.testing.assert_close(values, 2 * getattr(data, name).inputs.flatten(1))
    assert list(encode_splits(encoder, data, splits=("val",))) == ["val"]
