"""The SupCon / SimCLR / cross-entropy methods turn a batch into exactly the intended loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from contrastlab._host_sync import HostSyncCounter
from contrastlab.data.image_augment import SupervisedImageAugment
from contrastlab.losses import supcon_loss
from contrastlab.methods import ContrastiveViewsMethod, CrossEntropyMethod


class ScaleByCall(nn.Module):
    """A deterministic 'augmentation': call k multiplies by (k + 1) and adds k."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.calls + (self.calls - 1)


class Projector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x), dim=1)


def inputs_and_labels():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(8, 6, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2, 0, 3])


@pytest.mark.parametrize("method", ["supcon", "simclr"])
@pytest.mark.parametrize("n_views", [2, 3])
def test_loss_equals_supcon_on_hand_built_views(method, n_views):
    x, labels = inputs_and_labels()
    model = Projector()
    output = ContrastiveViewsMethod(ScaleByCall(), method=method, temperature=0.2, n_views=n_views)(
        model, x, labels
    )
    views = torch.stack([model(x * k + (k - 1)) for k in range(1, n_views + 1)], dim=1)
    expected = supcon_loss(
        views, labels if method == "supcon" else None, temperature=0.2, base_temperature=0.07
    )
    torch.testing.assert_close(output.loss, expected)
    assert output.batch_size == 8


def test_simclr_ignores_labels_and_supcon_uses_them():
    x, labels = inputs_and_labels()
    model = Projector()
    shuffled = labels[torch.tensor([3, 1, 7, 0, 2, 6, 5, 4])]

    def loss(method, y):
        return ContrastiveViewsMethod(ScaleByCall(), method=method, temperature=0.2)(
            model, x, y
        ).loss

    torch.testing.assert_close(loss("simclr", labels), loss("simclr", shuffled))
    assert not torch.allclose(loss("supcon", labels), loss("supcon", shuffled))


def test_cross_entropy_method():
    x, labels = inputs_and_labels()
    model = nn.Linear(6, 4)
    output = CrossEntropyMethod(nn.Identity())(model, x, labels)
    torch.testing.assert_close(output.loss, F.cross_entropy(model(x), labels))
    expected_top1 = (model(x).argmax(1) == labels).float().mean() * 100
    torch.testing.assert_close(output.metrics["train_top1"], expected_top1)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        ContrastiveViewsMethod(nn.Identity(), method="byol")


def test_given_views_classify_the_one_view_of_each_sample() -> None:
    """The streamed step: uint8 crops [B, 1, C, S, S] normalised on the device (no flip here),
    classified, without waiting for the device."""
    generator = torch.Generator().manual_seed(0)
    crops = torch.randint(0, 256, (6, 1, 3, 4, 4), dtype=torch.uint8, generator=generator)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.3, 0.25])
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    augment = SupervisedImageAugment(4, mean.tolist(), std.tolist(), flip_p=0.0, crop=False)
    method = CrossEntropyMethod(augment, given_views=True)
    with HostSyncCounter() as syncs:
        output = method(model, crops, labels)
    assert syncs.count == 0
    normalised = (crops[:, 0] / 255.0 - mean[:, None, None]) / std[:, None, None]
    torch.testing.assert_close(output.loss, F.cross_entropy(model(normalised), labels))
    with pytest.raises(ValueError, match=r"one view per sample \[B, 1, \.\.\.\]"):
        method(model, crops.repeat(1, 2, 1, 1, 1), labels)
