"""Batch image augmentations: shapes, parameter distributions, pixels, randomness and checkpoints,
host synchronisation and op counts, normalisation, errors."""

from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from contrastlab._host_sync import HostSyncCounter
from contrastlab.config.options import build_config
from contrastlab.config.training import TrainConfig
from contrastlab.data.image_augment import (
    AugmentParameters,
    ContrastiveImageAugment,
    EvalImageTransform,
    SupervisedImageAugment,
)
from contrastlab.data.splits import LabeledTensors
from contrastlab.methods import ContrastiveViewsMethod
from contrastlab.training.loop import fit

RGB_MEAN, RGB_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def _images(batch: int = 4, channels: int = 3, side: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(123)
    return torch.randint(
        0, 256, (batch, channels, side, side), dtype=torch.uint8, generator=generator
    )


def _geometry_only(
    size: int, scale: tuple[float, float], flip_p: float = 0.0
) -> ContrastiveImageAugment:
    return ContrastiveImageAugment(
        size, mean=[0.0], std=[1.0], scale=scale, ratio=(1.0, 1.0), flip_p=flip_p, jitter_p=0.0
    )


def test_output_shape_dtype_and_channels() -> None:
    augment = ContrastiveImageAugment(24, RGB_MEAN, RGB_STD)
    out = augment(_images())
    assert out.shape == (4, 3, 24, 24) and out.dtype == torch.float32
    gray = ContrastiveImageAugment((20, 16), [0.5], [0.25])
    assert gray(_images(channels=1)).shape == (4, 1, 20, 16)
    float_in = _images().float() / 255
    assert augment(float_in).shape == (4, 3, 24, 24)
    assert augment(float_in.double()).dtype == torch.float64
    assert augment(float_in.half()).dtype == torch.float32
    assert augment(_images(batch=0)).shape == (0, 3, 24, 24)


def test_two_calls_differ_and_a_seed_reproduces_a_call() -> None:
    augment = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD)
    x = _images()
    torch.manual_seed(0)
    first = augment(x)
    second = augment(x)
    assert not torch.equal(first, second)
    torch.manual_seed(0)
    torch.testing.assert_close(augment(x), first, rtol=0, atol=0)
    # Samples of one batch get different parameters too.
    same = _images(batch=1).expand(4, -1, -1, -1)
    out = augment(same)
    assert not torch.equal(out[0], out[1])


def test_uint8_and_float_inputs_agree() -> None:
    x = _images()
    for order in ("batch", "sample"):
        from_uint8 = ContrastiveImageAugment(28, RGB_MEAN, RGB_STD, jitter_order=order, seed=4)
        from_float = ContrastiveImageAugment(28, RGB_MEAN, RGB_STD, jitter_order=order, seed=4)
        torch.testing.assert_close(from_uint8(x), from_float(x.float() / 255), rtol=0, atol=0)


def test_crop_covers_exactly_the_requested_area() -> None:
    # A horizontal ramp 0..1: the value range of the crop measures its width in source pixels.
    side = 32
    ramp = torch.linspace(0, 1, side).view(1, 1, 1, side).expand(1, 1, side, side)
    out = _geometry_only(side, scale=(0.25, 0.25))(ramp.expand(16, 1, side, side))
    width_px = (out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3))) * (side - 1) + 1
    torch.testing.assert_close(width_px, torch.full((16,), side / 2))
    torch.manual_seed(1)
    wide = _geometry_only(side, scale=(0.2, 1.0))(ramp.expand(256, 1, side, side))
    width_px = (wide.amax(dim=(1, 2, 3)) - wide.amin(dim=(1, 2, 3))) * (side - 1) + 1
    assert width_px.min() >= 0.2**0.5 * side - 1  # square crops: side >= sqrt(0.2) * 32
    assert width_px.max() <= side + 1e-4
    assert width_px.max() - width_px.min() > side / 3  # the scale really varies


def test_full_crop_with_certain_flip_mirrors_the_image() -> None:
    x = torch.rand(3, 1, 16, 16)
    out = _geometry_only(16, scale=(1.0, 1.0), flip_p=1.0)(x)
    torch.testing.assert_close(out, x.flip(-1), rtol=0, atol=0)


def test_without_crop_only_flips_colours_and_normalises() -> None:
    x = torch.rand(6, 3, 16, 16)
    augment = ContrastiveImageAugment(
        16, [0.0] * 3, [1.0] * 3, flip_p=0.5, jitter_p=0.0, crop=False
    )
    parameters = AugmentParameters(flip=torch.tensor([True, False] * 3))
    out = augment.transform(x, parameters)
    torch.testing.assert_close(out[0::2], x[0::2].flip(-1), rtol=0, atol=0)
    torch.testing.assert_close(out[1::2], x[1::2], rtol=0, atol=0)
    assert augment.sample_parameters(6, 16, 16, "cpu").boxes is None
    assert ContrastiveImageAugment(16, RGB_MEAN, RGB_STD, crop=False)(x).shape == x.shape
    with pytest.raises(ValueError, match=r"crop=False takes images already at size \(16, 16\)"):
        augment(torch.rand(2, 3, 32, 32))


def test_transform_applies_given_parameters() -> None:
    x = torch.rand(2, 3, 8, 8)
    augment = ContrastiveImageAugment(8, RGB_MEAN, RGB_STD, hue=0.0, saturation=0.0)
    assert augment.adjustments == ("brightness", "contrast")
    whole = torch.tensor([[0.0, 0.0, 8.0, 8.0]] * 2)
    brighter = AugmentParameters(
        boxes=whole,
        flip=torch.tensor([False, True]),
        jitter_factors=torch.tensor([[0.5, 1.0], [1.0, 1.0]]),
        jitter_order=(1, 0),
        grayscale=torch.tensor([False, True]),
    )
    out = augment.transform(x, brighter)
    torch.testing.assert_close(out[0], x[0] * 0.5, rtol=0, atol=0)
    luma = 0.299 * x[1, 0] + 0.587 * x[1, 1] + 0.114 * x[1, 2]
    torch.testing.assert_close(out[1], luma.flip(-1).expand(3, 8, 8))


def test_parameter_rates_and_ranges() -> None:
    augment = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, blur_p=0.5, seed=0)
    n = 20000
    parameters = augment.sample_parameters(n, 32, 32, "cpu")
    for name, probability in (
        ("flip", 0.5),
        ("jitter_applied", 0.8),
        ("grayscale", 0.2),
        ("blurred", 0.5),
    ):
        rate = getattr(parameters, name).double().mean().item()
        assert abs(rate - probability) < 5 * math.sqrt(probability * (1 - probability) / n), name
    from scipy.stats import kstest

    applied = parameters.jitter_applied
    factors = parameters.jitter_factors
    assert augment.adjustments == ("brightness", "contrast", "saturation", "hue")
    torch.testing.assert_close(
        factors[~applied], torch.tensor([[1.0, 1.0, 1.0, 0.0]]).expand(int((~applied).sum()), 4)
    )
    for column, (low, high) in enumerate([(0.6, 1.4)] * 3 + [(-0.1, 0.1)]):
        values = factors[applied, column].double()
        assert values.min() >= low and values.max() < high
        assert kstest(values.numpy(), "uniform", args=(low, high - low)).pvalue > 1e-3
    sigma = parameters.blur_sigma.double()
    assert kstest(sigma.numpy(), "uniform", args=(0.1, 1.9)).pvalue > 1e-3
    boxes = parameters.boxes
    area = boxes[:, 2] * boxes[:, 3] / 1024
    assert area.min() >= 0.2 - 0.05 and area.max() <= 1.0


def test_jitter_orders_are_uniform_permutations() -> None:
    batch_orders = Counter()
    augment = ContrastiveImageAugment(8, RGB_MEAN, RGB_STD, seed=1)
    for _ in range(480):
        order = augment.sample_parameters(2, 8, 8, "cpu").jitter_order
        assert sorted(order) == [0, 1, 2, 3]
        batch_orders[order] += 1
    assert len(batch_orders) == 24 and min(batch_orders.values()) >= 5  # mean 20
    per_sample = ContrastiveImageAugment(8, RGB_MEAN, RGB_STD, jitter_order="sample", seed=1)
    orders = per_sample.sample_parameters(8000, 8, 8, "cpu").jitter_order
    assert torch.equal(orders.sort(dim=1).values, torch.arange(4).expand(8000, 4))
    hue_position = (orders == 3).int().argmax(dim=1)
    counts = torch.bincount(hue_position, minlength=4).double()
    assert ((counts - 2000).abs() < 5 * math.sqrt(2000 * 0.75)).all()


def test_grayscale_makes_rgb_channels_equal() -> None:
    augment = ContrastiveImageAugment(
        16, [0.0] * 3, [1.0] * 3, scale=(1.0, 1.0), jitter_p=0.0, grayscale_p=1.0
    )
    out = augment(_images(side=16))
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 1], out[:, 2])


def test_single_channel_uses_brightness_and_contrast_only() -> None:
    augment = ContrastiveImageAugment(16, [0.5], [0.5], jitter_p=1.0, grayscale_p=0.5)
    assert augment.adjustments == ("brightness", "contrast")
    parameters = augment.sample_parameters(4, 16, 16, "cpu")
    assert parameters.grayscale is None and parameters.jitter_factors.shape == (4, 2)
    out = augment(_images(channels=1))
    assert out.shape == (4, 1, 16, 16) and torch.isfinite(out).all()


def test_supervised_augment_and_blur_option() -> None:
    supervised = SupervisedImageAugment(16, RGB_MEAN, RGB_STD)
    parameters = supervised.sample_parameters(4, 32, 32, "cpu")
    assert supervised.adjustments == ()
    assert parameters.boxes is not None and parameters.flip is not None
    assert parameters.jitter_factors is None and parameters.grayscale is None
    assert parameters.blurred is None
    blurred = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, blur_p=0.5)
    assert blurred(_images()).shape == (4, 3, 32, 32)


def test_autocast_does_not_change_the_result() -> None:
    x = _images()
    expected = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, blur_p=1.0, seed=3)(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, blur_p=1.0, seed=3)(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


ALL_OPTIONS = [
    {},
    {"jitter_order": "sample", "blur_p": 0.5},
    {"crop": False},
    {"seed": 7},
]


@pytest.mark.parametrize("options", ALL_OPTIONS)
def test_a_call_never_synchronises_with_the_host(options: dict[str, object]) -> None:
    augment = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, **options)
    for batch in (_images(), _images().float() / 255):
        with HostSyncCounter() as syncs:
            augment(batch)
        assert syncs.count == 0, syncs.operations


class _OperationCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.operations: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.operations[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("options", ALL_OPTIONS)
def test_the_same_operations_run_for_any_batch_size(options: dict[str, object]) -> None:
    counts = []
    for batch in (4, 64):
        augment = ContrastiveImageAugment(32, RGB_MEAN, RGB_STD, **options)
        with _OperationCounter() as counter:
            augment(_images(batch=batch))
        counts.append(counter.operations)
    assert counts[0] == counts[1]
    assert 0 < sum(counts[0].values()) < 400


def _views_method(seed: int | None) -> ContrastiveViewsMethod:
    return ContrastiveViewsMethod(ContrastiveImageAugment(24, RGB_MEAN, RGB_STD, seed=seed))


def test_a_checkpoint_of_the_method_repeats_the_next_views() -> None:
    x = _images()
    method = _views_method(seed=21)
    method.views(x)
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    expected = method.views(x)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state == {"views.transform.random._extra_state": {"seed": 21, "calls": 2}}
    resumed = _views_method(seed=0)
    resumed.load_state_dict(state)
    torch.testing.assert_close(resumed.views(x), expected, rtol=0, atol=0)
    assert not torch.equal(_views_method(seed=0).views(x), expected)


def test_without_a_seed_the_global_rng_state_repeats_the_next_views() -> None:
    x = _images()
    method = _views_method(seed=None)
    assert method.state_dict() == {}  # nothing of its own: torch's global state drives it
    method.views(x)
    rng_state = torch.get_rng_state()
    expected = method.views(x)
    torch.set_rng_state(rng_state)
    torch.testing.assert_close(_views_method(seed=None).views(x), expected, rtol=0, atol=0)


class _UnitProjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.linear = nn.Linear(3 * 8 * 8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.linear(x.flatten(1)), dim=1)


def _train(run_dir: Path, seed: int | None, resume: str | None = None) -> dict[str, torch.Tensor]:
    model = _UnitProjection()
    method = ContrastiveViewsMethod(
        ContrastiveImageAugment(8, RGB_MEAN, RGB_STD, jitter_order="sample", seed=seed)
    )
    data = LabeledTensors(_images(batch=24, side=8), torch.arange(24) % 3)
    options = {"epochs": 3, "batch_size": 8, "save_freq": 1, "progress": False, "seed": 2}
    fit(model, method, data, build_config(TrainConfig, {**options, "resume": resume}), run_dir)
    return model.state_dict()


@pytest.mark.parametrize("seed", [None, 5])
def test_a_resumed_training_run_repeats_the_uninterrupted_one(tmp_path: Path, seed: int | None):
    straight = _train(tmp_path / "straight", seed)
    resumed = _train(tmp_path / "resumed", seed, str(tmp_path / "straight" / "ckpt_epoch_1.pth"))
    for name, value in straight.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=0, msg=name)
    other = _train(tmp_path / "other", None if seed is not None else 6)
    assert not torch.equal(other["linear.weight"], straight["linear.weight"])


def test_eval_transform_normalises_to_zero_mean_unit_std() -> None:
    x = _images(batch=64)
    unit = x.float() / 255
    mean = unit.mean(dim=(0, 2, 3)).tolist()
    std = unit.std(dim=(0, 2, 3), unbiased=False).tolist()
    transform = EvalImageTransform(32, mean, std)
    out = transform(x)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(transform(x), out, rtol=0, atol=0)  # deterministic
    expected = (unit - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(out, expected)


def test_eval_transform_resizes_only_when_needed() -> None:
    constant = torch.full((2, 1, 8, 8), 0.75)
    out = EvalImageTransform(32, [0.25], [0.5])(constant)
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, torch.ones(2, 1, 32, 32))
    shrunk = EvalImageTransform((4, 6), [0.0], [1.0])(torch.rand(2, 1, 16, 16))
    assert shrunk.shape == (2, 1, 4, 6)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(3, 32, 32, dtype=torch.uint8), r"\[B, C, H, W\]"),
        (torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "3 channel"),
        (torch.zeros(2, 3, 32, 32, dtype=torch.int32), "uint8"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_bad_images_are_rejected(images: object, message: str) -> None:
    for transform in (
        ContrastiveImageAugment(8, RGB_MEAN, RGB_STD),
        EvalImageTransform(8, RGB_MEAN, RGB_STD),
    ):
        with pytest.raises(ValueError, match=message):
            transform(images)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"scale": (0.5, 1.5)}, "scale"),
        ({"scale": (0.8, 0.5)}, "scale"),
        ({"ratio": (0.0, 1.0)}, "ratio"),
        ({"flip_p": 1.5}, "flip_p"),
        ({"jitter_p": -0.1}, "jitter_p"),
        ({"grayscale_p": 2}, "grayscale_p"),
        ({"blur_p": -1}, "blur_p"),
        ({"brightness": -1.0}, "brightness"),
        ({"hue": 0.7}, "hue"),
        ({"size": 0}, "size"),
        ({"size": (8, 8, 8)}, "size"),
        ({"size": 1, "blur_p": 0.5}, "blur needs"),
        ({"std": (0.2, 0.0, 0.2)}, "std"),
        ({"std": (0.2, 0.2)}, "same non-zero length"),
        ({"crop": "no"}, "crop"),
        ({"jitter_order": "image"}, "jitter_order"),
        ({"seed": -3}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"size": 8, "mean": RGB_MEAN, "std": RGB_STD, **kwargs}
    with pytest.raises(ValueError, match=message):
        ContrastiveImageAugment(**arguments)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_follows_the_input() -> None:
    device = torch.device("cuda")
    x = _images().to(device)
    for transform in (
        ContrastiveImageAugment(24, RGB_MEAN, RGB_STD),
        ContrastiveImageAugment(24, RGB_MEAN, RGB_STD, jitter_order="sample", blur_p=0.5, seed=1),
        EvalImageTransform(24, RGB_MEAN, RGB_STD),
    ):
        out = transform.to(device)(x)
        assert out.device.type == "cuda" and out.shape == (4, 3, 24, 24)
