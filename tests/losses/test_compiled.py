"""The compiled dense log-sum-exp of the softmax losses (CUDA) and its eager fallback.

No GPU is needed: ``compile_enabled`` is forced on, and ``torch.compile`` runs with dynamo's
``eager`` backend and ``fullgraph=True``, which traces the same Python (a graph break or an
untraceable construct fails the test) without generating kernels.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastlab.losses import _compiled, _logsumexp, info_nce, supcon_loss
from contrastlab.losses._compiled import CompiledOnCuda, compile_enabled


def features(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(24, 2, 16, generator=generator), dim=-1)


def loss_and_grad(loss_fn, x):
    leaf = x.clone().requires_grad_(True)
    loss = loss_fn(leaf)
    loss.backward()
    return loss.detach(), leaf.grad


@pytest.fixture
def fresh_cores(monkeypatch):
    """New wrappers of the dense cores, so that no compiler state is shared with other tests."""
    monkeypatch.setattr(
        _logsumexp, "_DENSE_EXPONENTIALS", CompiledOnCuda(_logsumexp._dense_exponentials)
    )
    monkeypatch.setattr(_logsumexp, "_DENSE_BACKWARD", CompiledOnCuda(_logsumexp._dense_backward))


LOSSES = {
    "supcon": lambda x: supcon_loss(x, torch.arange(24) % 5, temperature=0.1, memory="dense"),
    "supcon_one": lambda x: supcon_loss(x, contrast_mode="one", temperature=0.1, memory="dense"),
    "info_nce_in_batch": lambda x: info_nce(x[:, 0], x[:, 1], temperature=0.1, memory="dense"),
    "info_nce_queue": lambda x: info_nce(x[:8, 0], x[:8, 1], x[8:, 0], memory="dense"),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_compiled_cores_trace_whole_and_match_eager(fresh_cores, monkeypatch, name):
    real_compile = torch.compile
    compiled = []

    def traced(function, **kwargs):
        compiled.append(function.__name__)
        return real_compile(function, backend="eager", fullgraph=True, **kwargs)

    expected = loss_and_grad(LOSSES[name], features())
    torch._dynamo.reset()
    monkeypatch.setattr(_compiled, "compile_enabled", lambda device: True)
    monkeypatch.setattr(torch, "compile", traced)
    got = loss_and_grad(LOSSES[name], features())
    assert compiled == ["_dense_exponentials", "_dense_backward"]
    torch.testing.assert_close(got, expected)


def test_a_failing_compiler_falls_back_to_eager_once_with_a_warning(fresh_cores, monkeypatch):
    attempts = []

    def broken(function, **kwargs):
        attempts.append(function.__name__)

        def fail(*args):
            raise RuntimeError("no Triton here")

        return fail

    expected = loss_and_grad(LOSSES["supcon"], features())
    monkeypatch.setattr(_compiled, "compile_enabled", lambda device: True)
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        got = loss_and_grad(LOSSES["supcon"], features())
    torch.testing.assert_close(got, expected)
    loss_and_grad(LOSSES["supcon"], features())  # no second attempt, no second warning
    assert attempts == ["_dense_exponentials", "_dense_backward"]


def test_compilation_is_for_cuda_only_and_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(_compiled, "_compiler_available", lambda: True)
    monkeypatch.delenv(_compiled.COMPILE_VARIABLE, raising=False)
    assert compile_enabled(torch.device("cuda"))
    assert not compile_enabled(torch.device("cpu"))
    monkeypatch.setenv(_compiled.COMPILE_VARIABLE, "0")
    assert not compile_enabled(torch.device("cuda"))
    monkeypatch.setenv(_compiled.COMPILE_VARIABLE, "1")
    monkeypatch.setattr(_compiled, "_compiler_available", lambda: False)
    assert not compile_enabled(torch.device("cuda"))
