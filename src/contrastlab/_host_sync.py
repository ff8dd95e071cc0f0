"""Find the operations that make the host wait for the device (a debugging and test aid).

On a GPU, reading a tensor's value on the host (``.item()``, ``float(t)``, a Python ``if`` on a
tensor), an output whose *size* depends on values (``nonzero``, boolean-mask indexing,
``unique``, ``masked_select``) or a copy to the CPU stalls the CPU until every queued kernel has
run: the launch queue drains and the GPU idles. The ATen operations behind them are the same on
every device, so :class:`HostSyncCounter` finds them on the CPU too::

    with HostSyncCounter() as syncs:
        loss = supcon_loss(features, labels)
        loss.backward()
    assert syncs.count == 0, syncs.operations

Counted: reads of a value (``aten._local_scalar_dense``, ``aten.is_nonzero``, ``aten.equal``),
value-dependent output shapes (``nonzero``, ``unique`` family, ``masked_select``, boolean
``index`` / ``index_put``, ``repeat_interleave`` without ``output_size``) and copies from a
non-CPU device to the CPU. Not counted: ``tensor.tolist()`` and ``numpy()`` of a CPU tensor, which
read memory without an ATen call (on a GPU tensor they go through a counted device-to-CPU copy).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_VALUE_READS = frozenset({"_local_scalar_dense", "is_nonzero", "equal", "item"})
_DATA_DEPENDENT_SHAPES = frozenset(
    {
        "nonzero",
        "nonzero_static_fallback",
        "argwhere",
        "unique",
        "_unique",
        "_unique2",
        "unique_consecutive",
        "unique_dim",
        "masked_select",
    }
)
_INDEXING = frozenset({"index", "index_put", "index_put_", "_index_put_impl_"})


def _has_bool_index(args: tuple[Any, ...]) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(
        isinstance(index, torch.Tensor) and index.dtype == torch.bool
        for index in (indices or ())
        if index is not None
    )


def _counts_from_tensor(func: Any, kwargs: dict[str, Any]) -> bool:
    """``repeat_interleave`` with tensor repeats and no ``output_size`` reads the repeats."""
    return func._overloadname in ("Tensor", "self_Tensor") and kwargs.get("output_size") is None


def _is_device_to_host_copy(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if name not in ("_to_copy", "copy_"):
        return False
    if name == "copy_":
        destination, source = args[0], args[1]
        return destination.device.type == "cpu" and source.device.type != "cpu"
    source, target = args[0], kwargs.get("device")
    return target is not None and torch.device(target).type == "cpu" and source.device.type != "cpu"


class OperationCounter(TorchDispatchMode):
    """Count the ATen operations run inside a ``with`` block for which :meth:`counts` is True
    (every operation here; subclasses choose).

    Attributes:
        operations: ``Counter`` of the counted operations by ATen name.
    """

    def __init__(self) -> None:
        super().__init__()
        self.operations: Counter[str] = Counter()

    @property
    def count(self) -> int:
        """How many counted operations ran inside the ``with`` block."""
        return sum(self.operations.values())

    def counts(self, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return True

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        if self.counts(name, func, args, kwargs):
            self.operations[name] += 1
        return func(*args, **kwargs)


class HostSyncCounter(OperationCounter):
    """Count the ATen operations that synchronise the host with the device (module docstring)."""

    def counts(self, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return (
            name in _VALUE_READS
            or name in _DATA_DEPENDENT_SHAPES
            or (name in _INDEXING and _has_bool_index(args))
            or (name == "repeat_interleave" and _counts_from_tensor(func, kwargs))
            or _is_device_to_host_copy(name, args, kwargs)
        )
