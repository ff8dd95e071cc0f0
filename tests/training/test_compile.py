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
