"""A per-row shift carried through the similarity matmul as an extra column.

``[a_i, -b_i] . [c_j, 1] = a_i . c_j - b_i``: the shifted similarities come out of the matmul
itself, with no subtraction pass over the [Na, N] block. Used by every path of the softmax
log-sum-exp (row blocks with their Cauchy-Schwarz bound or exact ``lse``, symmetric tiles with one
scalar shift).
"""

from __future__ import annotations

import torch


def finite_or_zero(values: torch.Tensor) -> torch.Tensor:
    """``values`` with every NaN / inf entry replaced by 0 (one kernel; ``isfinite`` + ``where``
    are five)."""
    return torch.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def shifted_operands(
    a: torch.Tensor, c: torch.Tensor, shift: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``([a, -b], [c, 1])`` for a [Na, D], c [N, D] and shift b [Na] or a scalar (a non-finite
    shift counts as 0): their product ``[a, -b] @ [c, 1]^T`` is ``a c^T - b`` [Na, N]."""
    b = finite_or_zero(shift).to(a.dtype).expand(a.shape[0])
    ones = torch.ones(c.shape[0], dtype=c.dtype, device=c.device)
    return torch.cat([a, -b.unsqueeze(1)], dim=1), torch.cat([c, ones.unsqueeze(1)], dim=1)
