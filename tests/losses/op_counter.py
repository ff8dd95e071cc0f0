"""Count the ATen operations a computation dispatches: a CPU stand-in for CUDA kernel launches.

On a GPU every ATen operation that computes something launches at least one kernel; views and
metadata operations launch none. :class:`OpCounter` counts the former while active::

    with OpCounter() as ops:
        supcon_loss(features, labels).backward()
    print(ops.count, ops.operations.most_common(5))
"""

from __future__ import annotations

from contrastlab._host_sync import OperationCounter

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


class OpCounter(OperationCounter):
    """Count the dispatched ATen operations that would launch a kernel (module docstring)."""

    def counts(self, name, func, args, kwargs) -> bool:  # type: ignore[no-untyped-def]
        return name not in _NO_KERNEL


def count_operations(step) -> OpCounter:  # type: ignore[no-untyped-def]
    """Run ``step()`` under an :class:`OpCounter` and return the counter."""
    with OpCounter() as counter:
        step()
    return counter
