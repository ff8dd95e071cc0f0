"""Count the ATen operations a computation dispatches: a CPU stand-in for CUDA kernel launches.

On a GPU every ATen operation that computes something launches at least one kernel; views and
metadata operations launch none. :class:`OpCounter` counts the former while active::

    with OpCounter() as ops:
        supcon_loss(features, labels).backward()
    print(ops.count, ops.operations.most_common(5))
"""

from __future__ import annotations

from collections import Counter

from torch.utils._python_dispatch import TorchDispatchMode

_NO_KERNEL = frozenset(
    {
        "alias",
        "as_strided",
        "detach",
        "diagonal",
        "expand",
        "lift_fresh",
        "permute",
        "reshape",
        "select",
        "slice",
        "split",
        "squeeze",
        "t",
        "transpose",
        "unbind",
        "unflatten",
        "unsqueeze",
        "unfold",
        "view",
        "_unsafe_view",
        "_reshape_alias",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "sym_storage_offset",
        "is_same_size",
        "empty",
        "empty_strided",
        "empty_like",
        "new_empty",
        "new_empty_strided",
        "_to_copy_meta",
    }
)
"""Views, metadata queries and uninitialised allocations: no kernel on a GPU."""


class OpCounter(TorchDispatchMode):
    """Count the dispatched ATen operations that would launch a kernel (module docstring).

    Attributes:
        operations: ``Counter`` of the counted operations by ATen name.
    """

    def __init__(self) -> None:
        super().__init__()
        self.operations: Counter[str] = Counter()

    @property
    def count(self) -> int:
        return sum(self.operations.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = func._schema.name.split("::")[-1]
        if name not in _NO_KERNEL:
            self.operations[name] += 1
        return func(*args, **(kwargs or {}))


def count_operations(step) -> OpCounter:  # type: ignore[no-untyped-def]
    """Run ``step()`` under an :class:`OpCounter` and return the counter."""
    with OpCounter() as counter:
        step()
    return counter
