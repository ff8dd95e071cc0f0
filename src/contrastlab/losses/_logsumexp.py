"""Row-wise log-sum-exp of anchor-contrast similarities, the only O(N^2) part of the softmax losses.

For anchors ``a`` [Na, D] and contrast vectors ``c`` [N, D] (temperature folded into ``a``)::

    lse_i = log sum_{j != self_index[i]} exp(a_i . c_j)                                   [Na]

SupCon, NT-Xent and in-batch InfoNCE all reduce to this plus terms that are linear in the
similarities (their gradients are O(N D) and left to autograd). Design points:

* **No underflow, no overflow.** The self-similarity never enters a shift. The SupContrast
  reference subtracts a maximum that includes the self term a_i . a_i = 1 / T, so at small
  temperatures every remaining exponential underflows (NaN gradients at T = 0.01 in float32).
* **Full precision inside.** float16 / bfloat16 inputs are computed in float32 (float64 stays
  float64), with autocast disabled; the gradient is returned in the input dtype.
* **Two memory modes.** ``dense`` keeps the probabilities from forward to backward, so backward
  is the two matmuls of the floor: E = exp(S - m) [Na, N] with m the exact row maximum (written
  block by block in place), or, when S is symmetric, only the tiles of its upper triangle (about
  half the matrix). ``blocked`` keeps only ``lse`` and recomputes the similarities in backward:
  memory O(block) instead of O(Na N). ``auto`` picks dense while it keeps at most
  ``KEEP_LIMIT_BYTES``.

How the row-block path avoids extra passes over [Na, N] (recomputing costs one more matmul):

* **Shifts folded into the matmul.** Instead of a max pass and a subtraction pass, each row is
  shifted by an upper bound b_i >= max_j a_i . c_j (Cauchy-Schwarz: b_i = |a_i| max_j |c_j|), put
  into the matmul as an extra column: [a_i, -b_i] . [c_j, 1] = s_ij - b_i. Backward shifts by the
  exact ``lse_i`` the same way, so P_ij = exp(s_ij - lse_i) costs one in-place ``exp`` pass and the
  upstream gradient is applied to the [., D] operands, not to the [Na, N] block.
* **Exact fallback.** A row whose largest similarity lies more than ``SHIFT_GAP`` below its bound
  (tiny temperature, unnormalised inputs) is recomputed with its exact maximum, so no term that
  matters can underflow.
* **Symmetric tiles** (``_symmetric_tiles``). When the anchors are a multiple of the contrast
  vectors (SupCon with ``contrast_mode='all'``, NT-Xent: a = c / T) and each anchor's self column
  is its own index, S is symmetric: forward computes only the upper-triangle tiles, each serving
  rows I (through S_IJ) and rows J (through S_IJ^T), with one scalar shift so that exp(S - b) is
  symmetric too; backward is one [N, N] x [N, 2D] product over the same tiles, kept or recomputed.
  Forward + backward then cost less than the floor's three [N, N, D] matmuls.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from contrastlab._checks import check_choice
from contrastlab.losses._shift import finite_or_zero, shifted_operands
from contrastlab.losses._symmetric_tiles import (
    SHIFT_GAP,
    symmetric_backward,
    symmetric_forward,
    tile_elements,
)

KEEP_LIMIT_BYTES = 1 << 28
"""``memory='auto'`` keeps the probabilities from forward to backward when they fit in this many
bytes (256 MiB, one [8192, 8192] float32 matrix: in the symmetric case, where only the upper
triangle of tiles is kept, N up to about 11000; otherwise Na * N up to 8192^2). Above that the
tiles or row blocks are recomputed in backward."""

_BLOCK_ELEMENTS = 1 << 22
"""Similarities per row block (4M: 16 MB in float32). Large blocks mean few, large operations: on
a busy shared CPU every operation is a synchronisation point of the intra-op threads, which costs
more than the cache misses of a block that outgrows L2 (measured in docs/benchmarks.md)."""

_TILE_ELEMENTS = 1 << 24
"""Largest square tile of the symmetric case (4096 x 4096, 64 MB in float32): the recomputing
path's scratch memory."""

_TILES_PER_SIDE = 4
"""The symmetric case cuts S into about this many tiles per side (10 upper-triangle tiles), never
smaller than 1024 x 1024. The diagonal tiles are computed whole, so t tiles per side cost
1 / (2t) of S's matmul extra; more, smaller tiles mean more operations, and on a CPU shared with
other jobs every operation waits for all intra-op threads (measured in docs/benchmarks.md)."""

MEMORY_MODES = ("auto", "dense", "blocked")


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precisions are promoted)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def default_block_rows(n_contrast: int) -> int:
    """Rows per block so that one block holds about ``_BLOCK_ELEMENTS`` similarities."""
    return max(16, _BLOCK_ELEMENTS // max(n_contrast, 1))


def default_tile_side(n: int) -> int:
    """Side of the symmetric case's square tiles: about ``_TILES_PER_SIDE`` per side, between
    1024 and the side of ``_TILE_ELEMENTS``."""
    largest = math.isqrt(_TILE_ELEMENTS)
    return min(largest, max(min(1024, largest), -(-n // _TILES_PER_SIDE)))


def _mask_self(block: torch.Tensor, self_columns: torch.Tensor | None, value: float) -> None:
    """Set block[r, self_columns[r]] = value in place (entries < 0 mean 'no self column')."""
    if self_columns is None:
        return
    rows = torch.arange(block.shape[0], device=block.device)
    has_self = self_columns >= 0
    if not bool(has_self.all()):
        rows, self_columns = rows[has_self], self_columns[has_self]
    block[rows, self_columns] = value


def _is_symmetric(a: torch.Tensor, c: torch.Tensor, self_index: torch.Tensor | None) -> bool:
    """True when a = alpha * c (to rounding) and row i's self column is i: then S = a c^T is
    symmetric. O(N D), negligible against the O(N^2 D) work it can halve."""
    if a.shape != c.shape or a.shape[0] < 2 or self_index is None:
        return False
    if not torch.equal(self_index, torch.arange(a.shape[0], device=a.device)):
        return False
    with torch.no_grad():
        dtype = compute_dtype(a, c)
        a, c = a.detach().to(dtype), c.detach().to(dtype)
        norm = float(c.pow(2).sum())
        if norm == 0.0 or not math.isfinite(norm):
            return False
        alpha = float((a * c).sum()) / norm
        error = float((a - alpha * c).abs().amax())
        return error <= 8 * torch.finfo(dtype).eps * float(a.abs().amax())


def _slices(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _scratch_block(scratch: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    return scratch[: rows * columns].view(rows, columns)


# --- exact rows: max-subtraction per row (dense mode, and the blocked fallback) ----------------


def _exact_forward(
    a: torch.Tensor,
    c: torch.Tensor,
    self_index: torch.Tensor | None,
    block_rows: int,
    probabilities: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(lse, row_max, normaliser)`` with the exact row maximum; fills ``probabilities`` [Na, N]
    with exp(S - row_max) when given (dense mode)."""
    n_anchors, n_contrast = a.shape[0], c.shape[0]
    lse = torch.empty(n_anchors, dtype=a.dtype, device=a.device)
    row_max = torch.empty_like(lse)
    normaliser = torch.empty_like(lse)
    scratch = None
    if probabilities is None:
        scratch = a.new_empty(min(block_rows, max(n_anchors, 1)) * n_contrast)
    c_t = c.t()
    for rows in _slices(n_anchors, block_rows):
        n_rows = rows.stop - rows.start
        block = (
            probabilities[rows]
            if probabilities is not None
            else _scratch_block(scratch, n_rows, n_contrast)
        )
        torch.mm(a[rows], c_t, out=block)
        _mask_self(block, None if self_index is None else self_index[rows], float("-inf"))
        block_max = finite_or_zero(block.amax(dim=1))
        block.sub_(block_max.unsqueeze(1)).exp_()
        block_sum = block.sum(dim=1)
        row_max[rows] = block_max
        normaliser[rows] = block_sum
        lse[rows] = block_max + block_sum.log()
    # Rows with no contrast term at all keep lse = -inf; their true max is -inf too.
    return lse, torch.where(torch.isfinite(lse), row_max, lse), normaliser


def _exact_backward(
    a: torch.Tensor,
    c: torch.Tensor,
    self_index: torch.Tensor | None,
    lse: torch.Tensor,
    grad: torch.Tensor,
    block_rows: int,
    grad_contrast: torch.Tensor,
) -> torch.Tensor:
    """Gradient wrt ``a`` of sum_i grad_i lse_i; adds the gradient wrt ``c`` to grad_contrast.

    P_ij = exp(s_ij - lse_i) comes from one matmul with the shift folded in and one exp pass; the
    weights ``grad`` scale the [., D] operands.
    """
    n_contrast = c.shape[0]
    a_shifted, c_shifted = shifted_operands(a, c, lse)
    c_t = c_shifted.t()
    weighted_a = a * grad.unsqueeze(1)
    grad_anchors = torch.empty_like(a)
    scratch = a.new_empty(min(block_rows, a.shape[0]) * n_contrast)
    for rows in _slices(a.shape[0], block_rows):
        block = _scratch_block(scratch, rows.stop - rows.start, n_contrast)
        torch.mm(a_shifted[rows], c_t, out=block)
        block.exp_()
        _mask_self(block, None if self_index is None else self_index[rows], 0.0)
        torch.mm(block, c, out=grad_anchors[rows])
        grad_contrast.addmm_(block.t(), weighted_a[rows])
    return grad_anchors.mul_(grad.unsqueeze(1))


# --- blocked forward / backward ----------------------------------------------------------------


def _blocked_forward(
    a: torch.Tensor,
    c: torch.Tensor,
    self_index: torch.Tensor | None,
    block_rows: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lse, row_max)`` by row blocks, each row shifted by its Cauchy-Schwarz bound."""
    n_anchors, n_contrast = a.shape[0], c.shape[0]
    shift = a.norm(dim=1) * c.norm(dim=1).amax()
    a_shifted, c_shifted = shifted_operands(a, c, shift)
    c_t = c_shifted.t()
    shifted_max = torch.full((n_anchors,), float("-inf"), dtype=a.dtype, device=a.device)
    sums = torch.zeros_like(shifted_max)
    scratch = a.new_empty(block_rows * n_contrast)
    for rows in _slices(n_anchors, block_rows):
        block = _scratch_block(scratch, rows.stop - rows.start, n_contrast)
        torch.mm(a_shifted[rows], c_t, out=block)
        _mask_self(block, None if self_index is None else self_index[rows], float("-inf"))
        shifted_max[rows] = block.amax(dim=1)
        sums[rows] = block.exp_().sum(dim=1)
    lse = shift + sums.log()
    row_max = torch.minimum(shift + shifted_max, lse)  # rounding must not put max above lse
    too_far = torch.isfinite(shifted_max) & (shifted_max < -SHIFT_GAP)
    _redo_exactly(a, c, self_index, block_rows, too_far | ~torch.isfinite(shift), lse, row_max)
    return lse, row_max


def _redo_exactly(
    a: torch.Tensor,
    c: torch.Tensor,
    self_index: torch.Tensor | None,
    block_rows: int,
    redo: torch.Tensor,
    lse: torch.Tensor,
    row_max: torch.Tensor | None,
) -> None:
    """Overwrite ``lse`` (and ``row_max``) of the rows flagged in ``redo`` with exact values."""
    rows = redo.nonzero().squeeze(1)
    if rows.numel():
        exact_self = None if self_index is None else self_index[rows]
        exact_lse, exact_max, _ = _exact_forward(a[rows], c, exact_self, block_rows)
        lse[rows] = exact_lse
        if row_max is not None:
            row_max[rows] = exact_max


class _ContrastLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        anchors: torch.Tensor,
        contrast: torch.Tensor,
        self_index: torch.Tensor | None,
        route: str,
        block_rows: int,
        need_max: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = compute_dtype(anchors, contrast)
        with torch.autocast(device_type=anchors.device.type, enabled=False):
            a = anchors.to(dtype)
            c = contrast.to(dtype)
            if route == "dense":
                probabilities = a.new_empty(a.shape[0], c.shape[0])
                lse, row_max, normaliser = _exact_forward(
                    a, c, self_index, block_rows, probabilities
                )
                ctx.save_for_backward(a, c, normaliser, probabilities)
            elif route == "blocked":
                lse, row_max = _blocked_forward(a, c, self_index, block_rows)
                ctx.save_for_backward(a, c, lse, self_index)
            else:
                keep = route == "symmetric-kept"
                lse, row_max, shift, redo, kept = symmetric_forward(
                    a, c, block_rows, keep, need_max
                )
                _redo_exactly(a, c, self_index, block_rows, redo, lse, row_max)
                ctx.save_for_backward(a, c, lse, self_index, shift, redo, kept)
        ctx.route = route
        ctx.block_rows = block_rows
        ctx.input_dtypes = (anchors.dtype, contrast.dtype)
        row_max = lse.new_empty(0) if row_max is None else row_max
        ctx.mark_non_differentiable(row_max)
        return lse, row_max

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, grad_lse: torch.Tensor, _grad_row_max: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None, None, None]:
        anchor_dtype, contrast_dtype = ctx.input_dtypes
        with torch.autocast(device_type=grad_lse.device.type, enabled=False):
            if ctx.route == "dense":
                a, c, normaliser, probabilities = ctx.saved_tensors
                # d lse_i / d S_ij = E_ij / z_i: fold 1 / z_i and the upstream grad into one weight.
                weight = finite_or_zero(grad_lse.to(a.dtype) / normaliser).unsqueeze(1)
                grad_anchors = torch.mm(probabilities, c).mul_(weight)
                grad_contrast = torch.mm(probabilities.t(), a * weight)
            elif ctx.route == "blocked":
                a, c, lse, self_index = ctx.saved_tensors
                grad = finite_or_zero(grad_lse.to(a.dtype))
                grad_contrast = torch.zeros_like(c)
                grad_anchors = _exact_backward(
                    a, c, self_index, lse, grad, ctx.block_rows, grad_contrast
                )
            else:
                a, c, lse, self_index, shift, redo, kept = ctx.saved_tensors
                grad = finite_or_zero(grad_lse.to(a.dtype))
                grad_contrast = torch.zeros_like(c)
                grad_anchors = symmetric_backward(
                    a, c, lse, shift, grad, redo, ctx.block_rows, kept, grad_contrast
                )
                rows = redo.nonzero().squeeze(1)
                if rows.numel():
                    grad_anchors[rows] = _exact_backward(
                        a[rows],
                        c,
                        self_index[rows],
                        lse[rows],
                        grad[rows],
                        ctx.block_rows,
                        grad_contrast,
                    )
        return (
            grad_anchors.to(anchor_dtype) if ctx.needs_input_grad[0] else None,
            grad_contrast.to(contrast_dtype) if ctx.needs_input_grad[1] else None,
            None,
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
    with_row_max: bool = True,
    symmetric: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Row-wise log-sum-exp of ``anchors @ contrast.T``, leaving out each anchor's own column.

    Args:
        anchors: [Na, D] floating tensor (fold the temperature in first: ``a / T``).
        contrast: [N, D] floating tensor.
        self_index: [Na] int64; column of ``contrast`` excluded from row i (its own copy), or a
            negative value for none. ``None`` excludes nothing.
        memory: 'dense' (keep the probabilities for backward: the [Na, N] matrix, or only the
            upper-triangle tiles when S is symmetric), 'blocked' (recompute them in backward:
            O(block) memory, one extra matmul, none extra when S is symmetric) or 'auto' (dense
            while what it keeps fits in ``KEEP_LIMIT_BYTES``).
        block_rows: rows per block (side of the square tiles in the symmetric case); by default a
            row block holds about 4M similarities (16 MB in float32), and S is cut into about 4
            x 4 tiles of 1024 to 4096 per side.
        with_row_max: also return the largest similarity of each row (in the symmetric case it
            costs two reductions per tile; pass False when it is not used).
        symmetric: whether ``anchors`` is a positive multiple of ``contrast`` and ``self_index``
            is ``arange(N)`` (then S is symmetric and only half of it is computed). None detects
            it (O(N D), a few host synchronisations); callers that know, pass it.

    Returns:
        ``(lse, row_max)``, both [Na] in float32 (float64 for float64 inputs). ``row_max`` is the
        largest similarity left in each row (not differentiable), or None when ``with_row_max``
        is False. A row with nothing left has ``lse = row_max = -inf``.
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
    if block_rows is not None and block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    n_anchors, n_contrast = anchors.shape[0], contrast.shape[0]
    if symmetric is None:
        symmetric = _is_symmetric(anchors, contrast, self_index)
    elif symmetric and (anchors.shape != contrast.shape or self_index is None):
        raise ValueError("symmetric=True needs anchors and contrast of one shape and self_index")
    if block_rows is None:
        block_rows = default_tile_side(n_anchors) if symmetric else default_block_rows(n_contrast)
    block_rows = min(block_rows, max(n_anchors, 1))
    if memory == "auto":
        kept = tile_elements(n_anchors, block_rows) if symmetric else n_anchors * n_contrast
        element_size = torch.finfo(compute_dtype(anchors, contrast)).bits // 8
        memory = "dense" if kept * element_size <= KEEP_LIMIT_BYTES else "blocked"
    if symmetric:
        route = "symmetric-kept" if memory == "dense" else "symmetric-recomputed"
    else:
        route = memory
    lse, row_max = _ContrastLogSumExp.apply(
        anchors, contrast, self_index, route, block_rows, with_row_max
    )
    return lse, (row_max if with_row_max else None)
