"""``torch.compile`` for the small elementwise cores of the softmax losses on CUDA, eager elsewhere.

On a GPU the masked log-sum-exp of a similarity matrix is a handful of elementwise passes and
reductions, each its own kernel in eager mode; compiled, they fuse into one or two kernels. On the
CPU the eager kernels are already vectorised and compiling costs seconds, so the CPU runs eagerly.

:class:`CompiledOnCuda` wraps a pure function (it must not modify its inputs, so that a failed
compiled call can be rerun eagerly). It compiles on the first call with CUDA tensors, with
``dynamic=True`` (one compilation for every batch size). It never fails because of compilation:
when torch.compile or Triton is unavailable, when ``CONTRASTLAB_COMPILE=0`` is set, or when
compiling raises, the function runs eagerly (a failure is reported once as a warning and the
eager function is used from then on).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

import torch

COMPILE_VARIABLE = "CONTRASTLAB_COMPILE"
"""Environment variable: ``0`` keeps the eager kernels on CUDA too (e.g. to compare)."""


@functools.cache
def _compiler_available() -> bool:
    try:
        import torch._dynamo
        from torch.utils._triton import has_triton
    except ImportError:
        return False
    return bool(torch._dynamo.is_dynamo_supported() and has_triton())


def compile_enabled(device: torch.device) -> bool:
    """Whether :class:`CompiledOnCuda` compiles for tensors on ``device``."""
    return (
        device.type == "cuda"
        and os.environ.get(COMPILE_VARIABLE, "1") != "0"
        and _compiler_available()
    )


class CompiledOnCuda:
    """``CompiledOnCuda(function)(*args, device=...)``: ``function(*args)``, compiled on CUDA.

    Args:
        function: a pure function of tensors (and constants).
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.compiled: Callable[..., Any] | None = None
        self.failed = False

    def __call__(self, *args: Any, device: torch.device) -> Any:
        if self.failed or not compile_enabled(device):
            return self.function(*args)
        try:
            if self.compiled is None:
                self.compiled = torch.compile(self.function, dynamic=True)
            return self.compiled(*args)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as error:  # any compiler failure: fall back, never fail the step
            self.failed = True
            warnings.warn(
                f"torch.compile of {self.function.__name__} failed ({type(error).__name__}: "
                f"{error}); running it eagerly from now on",
                RuntimeWarning,
                stacklevel=2,
            )
            return self.function(*args)
