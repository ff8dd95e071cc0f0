"""Row-wise log-sum-exp of anchor-contrast similarities, the only O(N^2) part of the softmax losses.

For anchors ``a`` [Na, D] and contrast vectors ``c`` [N, D] (temperature folded into ``a``)::

    lse_i = log sum_{j != self_index[i]} exp(a_i . c_j)                                   [Na]

SupCon, NT-Xent and in-batch InfoNCE all reduce to this plus terms that are linear in the
similarities (their gradients are O(N D) and left to autograd). Three design points:

* **Exact max-subtraction.** The row maximum is taken *after* the self-similarity is masked out.
  The SupContrast reference subtracts a maximum that includes the self term a_i . a_i = 1 / T, so at
  small temperatures every remaining exponential underflows (NaN gradients at T = 0.01 in float32).
* **Full precision inside.** float16 / bfloat16 inputs are computed in float32 (float64 stays
  float64), with autocast disabled; the gradient is returned in the input dtype.
* **Two memory modes.** ``dense`` keeps the unnormalised probabilities E = exp(S - m) [Na, N]
  (one matrix, written block by block in place) and needs two matmuls in backward, exactly the
  matmul floor. ``blocked`` keeps only ``lse`` and recomputes each row block in backward: memory
  O(block_rows * N) for one extra matmul. ``auto`` picks dense up to ``DENSE_LIMIT_BYTES``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from contrastlab._checks import check_choice

DENSE_LIMIT_BYTES = 1 << 30
"""``memory='auto'`` keeps the [Na, N] probability matrix when it fits in this many bytes."""

_BLOCK_ELEMENTS = 1 << 21
"""Target size of one row block (elements): large enough for efficient matmuls, small enough to
stay in cache during the element-wise passes."""

MEMORY_MODES = ("auto", "dense", "blocked")


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precisions are promoted)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def default_block_rows(n_contrast: int) -> int:
    """Rows per block so that one block holds about ``_BLOCK_ELEMENTS`` similarities."""
    return max(16, _BLOCK_ELEMENTS // max(n_contrast, 1))


def _mask_self(block: torch.Tensor, self_columns: torch.Tensor | None) -> None:
    """Set block[r, self_columns[r]] = -inf in place (entries < 0 mean 'no self column')."""
    if self_columns is None:
        return
    rows = torch.arange(block.shape[0], device=block.device)
    has_self = self_columns >= 0
    if not bool(has_self.all()):
        rows, self_columns = rows[has_self], self_columns[has_self]
    block[rows, self_columns] = float("-inf")


def _finite_or_zero(values: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(values), values, torch.zeros_like(values))


class _ContrastLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        anchors: torch.Tensor,
        contrast: torch.Tensor,
        self_index: torch.Tensor | None,
        keep_probabilities: bool,
        block_rows: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = compute_dtype(anchors, contrast)
        with torch.autocast(device_type=anchors.device.type, enabled=False):
            a = anchors.to(dtype)
            c = contrast.to(dtype)
            n_anchors, n_contrast = a.shape[0], c.shape[0]
            lse = torch.empty(n_anchors, dtype=dtype, device=a.device)
            row_max = torch.empty_like(lse)
            normaliser = torch.empty_like(lse)
            if keep_probabilities:
                probabilities = torch.empty(n_anchors, n_contrast, dtype=dtype, device=a.device)
            else:
                scratch = torch.empty(block_rows, n_contrast, dtype=dtype, device=a.device)
            c_t = c.t()
            for start in range(0, n_anchors, block_rows):
                stop = min(start + block_rows, n_anchors)
                block = probabilities[start:stop] if keep_probabilities else scratch[: stop - start]
                torch.mm(a[start:stop], c_t, out=block)
                _mask_self(block, None if self_index is None else self_index[start:stop])
                block_max = _finite_or_zero(block.amax(dim=1))
                block.sub_(block_max.unsqueeze(1)).exp_()
                block_sum = block.sum(dim=1)
                row_max[start:stop] = block_max
                normaliser[start:stop] = block_sum
                lse[start:stop] = block_max + block_sum.log()
            # Rows with no contrast term at all keep lse = -inf; their true max is -inf too.
            row_max = torch.where(torch.isfinite(lse), row_max, lse)

        ctx.keep_probabilities = keep_probabilities
        ctx.block_rows = block_rows
        ctx.input_dtypes = (anchors.dtype, contrast.dtype)
        if keep_probabilities:
            ctx.save_for_backward(a, c, normaliser, probabilities)
        else:
            ctx.save_for_backward(a, c, lse, self_index)
        ctx.mark_non_differentiable(row_max)
        return lse, row_max

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, grad_lse: torch.Tensor, _grad_row_max: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None, None]:
        anchor_dtype, contrast_dtype = ctx.input_dtypes
        with torch.autocast(device_type=grad_lse.device.type, enabled=False):
            if ctx.keep_probabilities:
                a, c, normaliser, probabilities = ctx.saved_tensors
                # d lse_i / d S_ij = E_ij / z_i: fold 1 / z_i and the upstream grad into one weight.
                weight = _finite_or_zero(grad_lse.to(a.dtype) / normaliser).unsqueeze(1)
                grad_anchors = torch.mm(probabilities, c).mul_(weight)
                grad_contrast = torch.mm(probabilities.t(), a * weight)
            else:
                a, c, lse, self_index = ctx.saved_tensors
                grad = grad_lse.to(a.dtype)
                finite_lse = _finite_or_zero(lse)
                grad_anchors = torch.empty_like(a)
                grad_contrast = torch.zeros_like(c)
                c_t = c.t()
                for start in range(0, a.shape[0], ctx.block_rows):
                    stop = min(start + ctx.block_rows, a.shape[0])
                    block = torch.mm(a[start:stop], c_t)
                    _mask_self(block, None if self_index is None else self_index[start:stop])
                    block.sub_(finite_lse[start:stop].unsqueeze(1)).exp_()
                    block.mul_(grad[start:stop].unsqueeze(1))
                    torch.mm(block, c, out=grad_anchors[start:stop])
                    grad_contrast.addmm_(block.t(), a[start:stop])
        return (
            grad_anchors.to(anchor_dtype) if ctx.needs_input_grad[0] else None,
            grad_contrast.to(contrast_dtype) if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
        )


def contrast_logsumexp(
    anchors: torch.Tensor,
    contrast: torch.Tensor,
    self_index: torch.Tensor | None = None,
    memory: str = "auto",
    block_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise log-sum-exp of ``anchors @ contrast.T``, leaving out each anchor's own column.

    Args:
        anchors: [Na, D] floating tensor (fold the temperature in first: ``a / T``).
        contrast: [N, D] floating tensor.
        self_index: [Na] int64; column of ``contrast`` excluded from row i (its own copy), or a
            negative value for none. ``None`` excludes nothing.
        memory: 'dense' (keep the [Na, N] probabilities for backward), 'blocked' (recompute them in
            row blocks: O(block_rows * N) memory, one extra matmul) or 'auto'.
        block_rows: rows per block; default keeps a block near 2M elements.

    Returns:
        ``(lse, row_max)``, both [Na] in float32 (float64 for float64 inputs). ``row_max`` is the
        largest similarity left in each row (not differentiable). A row with nothing left has
        ``lse = row_max = -inf``.
    """
    check_choice("memory", memory, MEMORY_MODES)
    if anchors.dim() != 2 or contrast.dim() != 2 or anchors.shape[1] != contrast.shape[1]:
        raise ValueError(
            f"anchors [Na, D] and contrast [N, D] must share D, "
            f"got {tuple(anchors.shape)} and {tuple(contrast.shape)}"
        )
    if self_index is not None:
        if self_index.shape != (anchors.shape[0],) or self_index.dtype != torch.long:
            raise ValueError(
                f"self_index must be int64 of shape [{anchors.shape[0]}], "
                f"got {self_index.dtype} {tuple(self_index.shape)}"
            )
        if anchors.shape[0] and int(self_index.max()) >= contrast.shape[0]:
            raise ValueError(f"self_index has a column >= the {contrast.shape[0]} contrast rows")
    n_anchors, n_contrast = anchors.shape[0], contrast.shape[0]
    element_size = torch.finfo(compute_dtype(anchors, contrast)).bits // 8
    if memory == "auto":
        dense_bytes = n_anchors * n_contrast * element_size
        memory = "dense" if dense_bytes <= DENSE_LIMIT_BYTES else "blocked"
    rows = block_rows if block_rows is not None else default_block_rows(n_contrast)
    if rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {rows}")
    rows = min(rows, max(n_anchors, 1))
    return _ContrastLogSumExp.apply(anchors, contrast, self_index, memory == "dense", rows)
