"""Device resolution: clear errors for names that are not devices or not on this machine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contrastlab.methods.contract import unwrap_model
from contrastlab.training.devices import autocast_context, resolve_device


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("name", ["bogus", "cuda:x", "", "gpu"])
def test_unknown_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="--device"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_without_a_gpu_is_refused() -> None:
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda:0")


def test_autocast_context_sets_the_dtype() -> None:
    with autocast_context(torch.device("cpu"), "bf16-mixed"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_context(torch.device("cpu"), "32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_unwrap_model_sees_through_data_parallel() -> None:
    network = nn.Linear(2, 2)
    assert unwrap_model(network) is network
    assert unwrap_model(nn.DataParallel(network)) is network
