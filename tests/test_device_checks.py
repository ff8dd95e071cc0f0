"""``require``: a failed value check raises ValueError on the CPU; on a device it is queued as a
device-side assert whose message fits the limit CUDA accepts."""

from __future__ import annotations

import pytest
import torch

from contrastlab._device_checks import ASYNC_MESSAGE_LIMIT, require


def test_on_the_cpu_a_false_condition_raises_its_whole_message() -> None:
    message = "labels must be >= 0; " * 20
    require(torch.tensor(True), message)
    require(torch.tensor([True, True]), message)
    with pytest.raises(ValueError) as raised:
        require(torch.tensor([True, False]), message)
    assert str(raised.value) == message


def test_on_a_device_the_assert_is_queued_with_a_message_cuda_accepts(monkeypatch) -> None:
    queued = []
    monkeypatch.setattr(torch, "_assert_async", lambda condition, text: queued.append(text))
    condition = torch.ones(3, dtype=torch.bool, device="meta")
    require(condition, "x" * 400)
    require(condition, "température " * 40)  # two bytes per é: cut by bytes, not characters
    assert queued[0] == "x" * ASYNC_MESSAGE_LIMIT
    assert len(queued[1].encode()) <= ASYNC_MESSAGE_LIMIT < 255
    assert queued[1] and ("température " * 40).startswith(queued[1])
