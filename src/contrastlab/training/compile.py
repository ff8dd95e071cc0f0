"""``--compile``: ``torch.compile`` of the network, falling back to eager where it cannot run.

Compilation happens lazily, at the first call; a backend that is missing or fails there (no C++
compiler, an unsupported operation, an old GPU) must not end the run. :class:`CompiledModule`
tries the compiled network once and, if that raises, warns once and keeps the eager one. The
backward is part of that first try: AOTAutograd compiles a backward of static shapes lazily, at
the first ``.backward()``, which happens outside the network's call; so the first call also runs
a trial backward of its output (``torch.autograd.grad`` of ``output.sum()`` with respect to the
parameters, the graph kept for the real backward, no ``.grad`` touched). Its cost is one extra
backward, once. When only the backward fails, the first step's forward runs again eagerly
(BatchNorm's running statistics then take that step twice). ``state_dict`` is the eager
network's (the compiled one shares its parameters).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn


class CompiledModule(nn.Module):
    """The compiled ``module`` with an eager fallback (module docstring)."""

    wraps_module = True  # unwrap_model sees through it

    def __init__(self, module: nn.Module, compiled: Any) -> None:
        super().__init__()
        self.module = module
        self._compiled = compiled
        self._checked = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is None:
            return self.module(*args, **kwargs)
        if self._checked:
            return self._compiled(*args, **kwargs)
        try:
            output = self._compiled(*args, **kwargs)
            self._trial_backward(output)
        except Exception as error:  # any compiler failure: keep training, eagerly
            warnings.warn(
                f"--compile: torch.compile failed ({type(error).__name__}: "
                f"{str(error).splitlines()[0][:200] if str(error) else ''}); training continues "
                "without compilation",
                stacklevel=2,
            )
            self._compiled = None
            return self.module(*args, **kwargs)
        self._checked = True
        return output

    def _trial_backward(self, output: Any) -> None:
        """Compile (and run once) the backward of ``output`` (a tensor, or tensors in tuples,
        lists and dicts, e.g. CPC's ``(z, context)``) now, inside the fallback's reach."""
        tensors = [
            leaf
            for leaf in torch.utils._pytree.tree_leaves(output)
            if isinstance(leaf, torch.Tensor) and leaf.requires_grad
        ]
        parameters = [p for p in self.module.parameters() if p.requires_grad]
        if not (torch.is_grad_enabled() and tensors and parameters):
            return
        total = sum(tensor.float().sum() for tensor in tensors)
        torch.autograd.grad(total, parameters, retain_graph=True, allow_unused=True)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.module.load_state_dict(*args, **kwargs)


def compile_with_fallback(module: nn.Module) -> nn.Module:
    """``module`` compiled (CUDA graphs are left to torch.compile's mode choice), or ``module``
    itself with a warning when ``torch.compile`` is not available."""
    try:
        compiled = torch.compile(module)
    except Exception as error:  # e.g. an unsupported Python version
        warnings.warn(
            f"--compile: torch.compile is not available ({error}); training without it",
            stacklevel=2,
        )
        return module
    return CompiledModule(module, compiled)
