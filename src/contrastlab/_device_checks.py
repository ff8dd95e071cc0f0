"""Checks of tensor *values* that never make the host wait for the device.

``require(condition, message)`` asserts a boolean tensor on its own device
(``torch._assert_async``): on a GPU the check is queued with the kernels and a failure stops the
process with ``message`` when the device reaches it (a device-side assert); on the CPU, where
there is no queue to drain, it raises ``ValueError(message)`` at once. Use it in training-step
code instead of ``if bool(condition): raise``, which synchronises on every step.
"""

from __future__ import annotations

import torch

ASYNC_MESSAGE_LIMIT = 250
"""UTF-8 bytes of ``message`` a device-side assert carries (CUDA refuses 255 or more at once)."""


def require(condition: torch.Tensor, message: str) -> None:
    """Assert that the 0-d (or all of the) boolean ``condition`` holds (module docstring)."""
    if condition.dim() > 0:
        condition = condition.all()
    if condition.device.type != "cpu":  # queued; any error raised here is not a failed check
        fitting = message.encode()[:ASYNC_MESSAGE_LIMIT].decode("utf-8", "ignore")
        torch._assert_async(condition, fitting)
        return
    try:
        torch._assert_async(condition, message)
    except RuntimeError as error:  # the CPU checks at once: the condition is false
        raise ValueError(message) from error
