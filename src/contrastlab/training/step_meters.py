"""Running sums of a method's scalars, kept on the device and read every ``print_freq`` steps.

Reading a loss on the host (``.item()``) makes the CPU wait for the GPU; done every step it
empties the launch queue. :class:`DeviceMeters` adds each step's loss and metrics (weighted by
the batch size) into device tensors and counts non-finite losses there too; :meth:`read`
all-reduces the sums over processes and reads them in one transfer, which the loop does every
``print_freq`` steps and at the end of the epoch. The divergence check acts at that read: every
rank sees the same global count, so all ranks stop together.
"""

from __future__ import annotations

import torch

from contrastlab.training import distributed


class DeviceMeters:
    """Weighted sums ``sum_i v_i n_i`` and the weight ``sum_i n_i`` of each logged scalar."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.sums: torch.Tensor | None = None  # [len(names)] float64 on the device
        self.weight = 0
        self.nonfinite: torch.Tensor | None = None  # [] count of steps with a non-finite loss

    def update(self, values: dict[str, torch.Tensor | float], weight: int) -> None:
        """Add one step's scalars (``loss`` first) with weight ``weight`` (its batch size)."""
        loss = values["loss"]
        device = loss.device if isinstance(loss, torch.Tensor) else torch.device("cpu")
        if self.sums is None:
            self.names = list(values)
            self.sums = torch.zeros(len(self.names), dtype=torch.float64, device=device)
            self.nonfinite = torch.zeros((), dtype=torch.float64, device=device)
        if list(values) != self.names:
            raise ValueError(f"a method must log the same metrics every step: {list(values)}")
        # A Python number is written on the device by a fill kernel (the value travels as a kernel
        # argument); torch.as_tensor(number, device=cuda) would copy it from pageable host memory,
        # a copy the host waits for.
        step = torch.stack(
            [
                v.detach().reshape(()).double()
                if isinstance(v, torch.Tensor)
                else torch.full((), float(v), dtype=torch.float64, device=device)
                for v in values.values()
            ]
        )
        finite = torch.isfinite(step[0])
        # A non-finite loss is counted, not summed, so the epoch mean stays readable.
        self.sums += torch.where(finite, step * weight, torch.zeros_like(step))
        self.nonfinite += (~finite).double()
        self.weight += weight

    def read(self) -> tuple[dict[str, float], int]:
        """``({name: mean over the steps so far, over all ranks}, steps with a non-finite loss
        over all ranks)``; one all-reduce and one device-to-host copy. A collective under DDP."""
        if self.sums is None or self.nonfinite is None:
            return {}, 0
        packed = torch.cat([self.sums, self.nonfinite.reshape(1)])
        packed = distributed.all_reduce_sum_with_grad(packed)  # identity without DDP
        values = packed.cpu().tolist()
        total_weight = self.weight * distributed.world_size()
        means = {
            name: value / total_weight for name, value in zip(self.names, values, strict=False)
        }
        return means, int(values[-1])
