"""MoCo: losses against slow loops, the momentum update, the queue, checkpoints and resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from contrastlab.config.options import build_config
from contrastlab.config.training import TrainConfig
from contrastlab.data.splits import LabeledTensors
from contrastlab.losses.supervised_queue import supervised_queue_loss
from contrastlab.methods import MoCoMethod
from contrastlab.training.loop import fit

DIM = 6


class Shift(nn.Module):
    """A deterministic 'augmentation': odd calls add 0.1 (view 0), even calls subtract it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x + (0.1 if self.calls % 2 else -0.1)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(5, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, DIM)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)


def unit(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, DIM, generator=generator, dtype=dtype), dim=1)


def make_method(supervised: bool = False, queue_size: int = 10, momentum: float = 0.9):
    torch.manual_seed(0)
    encoder = Encoder()
    method = MoCoMethod(
        encoder,
        Shift(),
        feature_dim=DIM,
        queue_size=queue_size,
        momentum=momentum,
        temperature=0.2,
        supervised=supervised,
    )
    return encoder, method


def test_unsupervised_step_is_info_nce_against_the_queue_before_the_step():
    encoder, method = make_method(momentum=0.5)
    inputs = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        nn.init.normal_(method.key_encoder.net[0].weight)  # keys differ from queries' encoder
    key_weights = [p.clone() for p in method.key_encoder.parameters()]
    queue_before = method.queue.clone()

    output = method(encoder, inputs, labels)

    # The key encoder moved halfway to the query encoder before computing the keys.
    for before, after, query_p in zip(
        key_weights, method.key_encoder.parameters(), encoder.parameters(), strict=True
    ):
        torch.testing.assert_close(after, 0.5 * before + 0.5 * query_p.detach())
    query = encoder(inputs + 0.1).detach()
    key = method.key_encoder(inputs - 0.1).detach()
    positive = (query * key).sum(dim=1) / 0.2
    negatives = torch.logsumexp(query @ queue_before.T / 0.2, dim=1)
    expected = F.softplus(negatives - positive).mean()
    torch.testing.assert_close(output.loss.detach(), expected, rtol=1e-5, atol=1e-6)
    accuracy = ((query @ queue_before.T).amax(dim=1) < (query * key).sum(dim=1)).float().mean()
    assert float(output.metrics["train_top1"]) == pytest.approx(100 * float(accuracy))
    # The keys were enqueued at slots 0..3.
    torch.testing.assert_close(method.queue[:4], key)
    torch.testing.assert_close(method.queue[4:], queue_before[4:])
    assert torch.equal(method.queue_labels[:4], labels)
    assert int(method.queue_ptr) == 4


def test_only_the_query_encoder_receives_gradients():
    encoder, method = make_method(supervised=True)
    inputs = torch.randn(6, 5, generator=torch.Generator().manual_seed(2))
    output = method(encoder, inputs, torch.tensor([0, 1, 2, 0, 1, 2]))
    output.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())
    assert all(p.grad is None and not p.requires_grad for p in method.key_encoder.parameters())
    assert [name for name, _ in method.named_parameters() if _.requires_grad] == []


def test_supervised_step_matches_slow_loop_with_queued_labels():
    encoder, method = make_method(supervised=True, momentum=0.0)  # keys from the query encoder
    generator = torch.Generator().manual_seed(3)
    first, second = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    method(encoder, first, labels)  # fills the queue with labelled keys
    queue, queue_labels = method.queue.clone(), method.queue_labels.clone()
    output = method(encoder, second, labels)
    with torch.no_grad():
        query, key = encoder(second + 0.1), encoder(second - 0.1)
    # supervised_queue_loss itself is checked against a slow loop in tests/losses.
    expected = supervised_queue_loss(
        query.double(), key.double(), labels, queue.double(), queue_labels, 0.2
    )[0].mean()
    assert float(output.loss.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_queue_wraps_around_and_keeps_the_newest_keys():
    _, method = make_method(queue_size=5)
    keys = unit(3, 6, dtype=torch.float32)
    method.enqueue(keys, torch.tensor([1, 2, 3]))
    method.enqueue(keys * -1, torch.tensor([4, 5, 6]))  # slots 3, 4, 0
    assert int(method.queue_ptr) == 1
    assert method.queue_labels.tolist() == [6, 2, 3, 4, 5]
    torch.testing.assert_close(method.queue[0], -keys[2])
    many = unit(7, 7, dtype=torch.float32)
    method.enqueue(many, torch.arange(7))  # more than the queue: the last 5 are kept
    assert sorted(method.queue_labels.tolist()) == [2, 3, 4, 5, 6]
    assert int(method.queue_ptr) == (1 + 7) % 5


def test_state_dict_holds_queue_and_key_encoder_and_round_trips():
    encoder, method = make_method(supervised=True)
    method(encoder, torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
    state = method.state_dict()
    assert {"queue", "queue_labels", "queue_ptr"} <= set(state)
    assert any(name.startswith("key_encoder.") for name in state)
    _, restored = make_method(supervised=True)
    restored.load_state_dict(state)
    for name, value in restored.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_fit_resume_restores_queue_and_momentum_encoder(tmp_path: Path):
    data = LabeledTensors(
        torch.randn(24, 5, generator=torch.Generator().manual_seed(4)), torch.arange(24) % 3
    )

    def run(resume: str | None = None):
        encoder, method = make_method(supervised=True, queue_size=16)
        config = build_config(
            TrainConfig,
            {"epochs": 2, "batch_size": 8, "learning_rate": 0.1, "progress": False},
            {"resume": resume, "save_freq": 1},
        )
        fit(encoder, method, data, config, tmp_path)
        return encoder, method

    encoder, method = run()
    # Epoch 2 again, from the epoch-1 checkpoint, in a fresh encoder and method.
    resumed_encoder, resumed_method = run(str(tmp_path / "ckpt_epoch_1.pth"))
    for name, value in method.state_dict().items():
        torch.testing.assert_close(resumed_method.state_dict()[name], value, msg=name)
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(resumed_encoder.state_dict()[name], value, msg=name)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("supervised", [False, True])
def test_mixed_precision_at_temperature_0_05_stays_finite(dtype, supervised):
    encoder, method = make_method(supervised=supervised)
    method.temperature = 0.05
    inputs = torch.randn(8, 5, generator=torch.Generator().manual_seed(5))
    with torch.autocast(device_type="cpu", dtype=dtype):
        output = method(encoder, inputs, torch.arange(8) % 4)
    output.loss.backward()
    assert output.loss.dtype == torch.float32 and torch.isfinite(output.loss)
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())
    assert method.queue.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queue_size": 0}, "queue_size"),
        ({"feature_dim": 0}, "feature_dim"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"temperature": 0.0}, "temperature"),
        ({"memory": "small"}, "memory"),
    ],
)
def test_bad_settings_raise(kwargs, message):
    settings = {"feature_dim": DIM, **kwargs}
    with pytest.raises(ValueError, match=message):
        MoCoMethod(Encoder(), Shift(), **settings)


def test_bad_calls_raise():
    encoder, method = make_method(supervised=True)
    with pytest.raises(ValueError, match="labels >= 0"):
        method(encoder, torch.randn(2, 5), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="2 labels for 3 inputs"):
        method(encoder, torch.randn(3, 5), torch.tensor([0, 1]))
    other = nn.Sequential(nn.Linear(5, DIM))
    with pytest.raises(ValueError, match="architecture"):
        method(other, torch.randn(2, 5), torch.tensor([0, 1]))
    _, wide = make_method()
    wide_encoder = nn.Sequential(nn.Linear(5, DIM + 1))
    with pytest.raises(ValueError, match="feature_dim"):
        wide(wide_encoder, torch.randn(2, 5), torch.tensor([0, 1]))


def test_image_pretrain_pipeline_trains_supervised_moco(tmp_path: Path):
    from contrastlab.config.image import PretrainConfig
    from contrastlab.pipelines.pretrain import pretrain

    options = {
        "method": "moco",
        "model": "smallcnn",
        "dataset": "digits",
        "size": 8,
        "epochs": 1,
        "batch_size": 256,  # 1168 training digits: 4 batches
        "knn_every": 0,
        "moco_queue_size": 600,
        "moco_supervised": True,
        "moco_bn_splits": 2,  # keys in two shuffled batch-norm batches
        "progress": False,
        "device": "cpu",
        "out": str(tmp_path),
    }
    summary = pretrain(build_config(PretrainConfig, options))
    assert summary["method"] == "moco" and math.isfinite(summary["final_loss"])
    method_state = torch.load(tmp_path / "last.pth", weights_only=True)["method"]
    assert method_state["queue"].shape == (600, 128)
    assert int(method_state["queue_ptr"]) == (4 * 256) % 600
    assert int((method_state["queue_labels"] >= 0).sum()) == 600  # 1024 keys wrapped around


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"moco_queue_size": 0}, "moco_queue_size"),
        ({"moco_momentum": 1.0}, "moco_momentum"),
        ({"moco_bn_splits": 0}, r"--moco_bn_splits must be in \[1, "),
        ({"moco_bn_splits": 2, "moco_shuffle_bn": False}, "needs --moco_shuffle_bn"),
        ({"moco_bn_splits": 257, "batch_size": 256}, "cannot split a batch of 256"),
    ],
)
def test_image_config_rejects_bad_moco_options(options, message):
    from contrastlab.config.image import PretrainConfig

    with pytest.raises(ValueError, match=message):
        build_config(PretrainConfig, {"method": "moco", **options})


@pytest.mark.parametrize(
    ("options", "shuffle_bn", "bn_splits"),
    [
        ([], True, 1),
        (["--moco_bn_splits", "4"], True, 4),
        (["--no-moco_shuffle_bn"], False, 1),
    ],
)
def test_image_pipeline_passes_shuffle_bn_options_to_moco(options, shuffle_bn, bn_splits):
    from contrastlab.cli import build_parser
    from contrastlab.cli.options import config_from_args
    from contrastlab.config.image import PretrainConfig
    from contrastlab.models.supcon_resnet import SupConResNet
    from contrastlab.pipelines.pretrain import _method

    args = build_parser().parse_args(["pretrain", "--method", "moco", "--feat_dim", "8", *options])
    config = config_from_args(PretrainConfig, args)
    model = SupConResNet("smallcnn", feat_dim=config.feat_dim, in_channels=1)
    method = _method(config, model, nn.Identity())
    assert isinstance(method, MoCoMethod)
    assert (method.shuffle_bn, method.bn_splits) == (shuffle_bn, bn_splits)
