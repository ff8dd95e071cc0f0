"""--compile: a compiled network that fails at its first call falls back to eager, once, with a
warning; checkpoints hold the eager network's weights either way."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlab.methods.contract import unwrap_model
from contrastlab.training.compile import CompiledModule, compile_with_fallback
from contrastlab.training.devices import resolve_precision


def failing_compiled(*args, **kwargs):
    raise RuntimeError("no C++ compiler for this backend")


def test_a_failing_compiler_falls_back_to_eager_once() -> None:
    network = nn.Linear(3, 2)
    wrapped = CompiledModule(network, failing_compiled)
    x = torch.randn(4, 3)
    with pytest.warns(UserWarning, match="torch.compile failed .RuntimeError: no C.. compiler"):
        first = wrapped(x)
    torch.testing.assert_close(first, network(x))
    second = wrapped(x)  # no second warning: the fallback is kept
    torch.testing.assert_close(second, network(x))
    assert unwrap_model(wrapped) is network
    assert wrapped.state_dict().keys() == network.state_dict().keys()


def test_a_working_compiler_is_used_after_its_first_call() -> None:
    calls = []
    network = nn.Linear(3, 2)

    def compiled(x):
        calls.append(x)
        return network(x) * 1

    wrapped = CompiledModule(network, compiled)
    wrapped(torch.randn(2, 3))
    wrapped(torch.randn(2, 3))
    assert len(calls) == 2


def test_compile_with_fallback_wraps_or_returns_the_network(monkeypatch) -> None:
    network = nn.Linear(3, 2)
    monkeypatch.setattr(torch, "compile", lambda module: failing_compiled)
    assert isinstance(compile_with_fallback(network), CompiledModule)

    def unavailable(module):
        raise RuntimeError("Python too new for dynamo")

    monkeypatch.setattr(torch, "compile", unavailable)
    with pytest.warns(UserWarning, match="not available"):
        assert compile_with_fallback(network) is network


def test_precision_auto_is_bf16_on_cuda_only() -> None:
    assert resolve_precision("auto", torch.device("cpu")) == "32"
    assert resolve_precision("16-mixed", torch.device("cpu")) == "16-mixed"
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        assert resolve_precision("auto", torch.device("cuda")) == "bf16-mixed"


def small_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)
    )


def eager_gradients(x: torch.Tensor) -> list[torch.Tensor]:
    network = small_network()
    network(x).square().mean().backward()
    return [p.grad for p in network.parameters()]


def failing_backward_backend() -> object:
    """A backend whose forward compiles and whose backward compiler raises (AOTAutograd compiles a
    static backward lazily, at the first ``.backward()``)."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def forward_compiler(graph, example_inputs):
        return make_boxed_func(graph.forward)

    def backward_compiler(graph, example_inputs):
        raise RuntimeError("no kernels for the backward")

    return aot_autograd(fw_compiler=forward_compiler, bw_compiler=backward_compiler)


def test_a_backward_that_fails_to_compile_falls_back_within_the_first_call() -> None:
    x = torch.randn(2, 3, 6, 6)
    torch._dynamo.reset()
    network = small_network()
    wrapped = CompiledModule(network, torch.compile(network, backend=failing_backward_backend()))
    with pytest.warns(UserWarning, match="torch.compile failed .* no kernels for the backward"):
        output = wrapped(x)
    output.square().mean().backward()  # the eager graph: no compiler runs here
    for got, expected in zip(network.parameters(), eager_gradients(x), strict=True):
        torch.testing.assert_close(got.grad, expected)
    assert wrapped._compiled is None


def test_the_trial_backward_leaves_the_gradients_to_the_real_one() -> None:
    x = torch.randn(2, 3, 6, 6)
    torch._dynamo.reset()
    network = small_network()
    wrapped = CompiledModule(network, torch.compile(network, backend="aot_eager"))
    output = wrapped(x)
    assert all(p.grad is None for p in network.parameters())  # the trial accumulates nothing
    output.square().mean().backward()  # the graph the trial kept
    for got, expected in zip(network.parameters(), eager_gradients(x), strict=True):
        torch.testing.assert_close(got.grad, expected)
    assert wrapped._compiled is not None


class TwoOutputs(nn.Module):
    """A network returning a tuple, as the CPC models do."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.linear(x)
        return z, z.tanh()


def test_the_trial_backward_covers_tuple_outputs() -> None:
    x = torch.randn(5, 3)
    torch._dynamo.reset()
    network = TwoOutputs()
    wrapped = CompiledModule(network, torch.compile(network, backend=failing_backward_backend()))
    with pytest.warns(UserWarning, match="torch.compile failed .* no kernels for the backward"):
        z, context = wrapped(x)
    (z.sum() + context.square().sum()).backward()
    assert all(p.grad is not None for p in network.parameters())
