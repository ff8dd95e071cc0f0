"""Row-wise log-sum-exp of anchor-contrast similarities, the only O(N^2) part of the softmax losses.

For anchors ``a`` [Na, D] and contrast vectors ``c`` [N, D] (temperature folded into ``a``)::

    lse_i = log sum_{j != self(i)} exp(a_i . c_j)                                          [Na]

SupCon, NT-Xent and in-batch InfoNCE all reduce to this plus terms that are linear in the
similarities (their gradients are O(N D) and left to autograd). Design points:

* **Exact rows.** Each row is shifted by its exact maximum (the self-similarity never enters it),
  so nothing that matters underflows at any temperature; the SupContrast reference includes the
  self term a_i . a_i = 1 / T in its maximum, and at T = 0.01 its float32 gradients are NaN.
  Backward shifts by the exact ``lse``, so every probability is <= 1.
* **Full precision inside.** float16 / bfloat16 inputs are computed in float32 (float64 stays
  float64), with autocast disabled; the gradient is returned in the input dtype.
* **No host synchronisation, a fixed number of operations.** The row routes read no value on the
  host and launch the same operations whatever the values; the self column is excluded by writing
  -inf into it (the diagonal, ``self_index='diagonal'``, or one scatter).

Routes (``memory``):

* ``dense``: S = a c^T in one piece (on the CPU in row blocks written in place, which keeps each
  elementwise pass in cache), E = exp(S - rowmax) kept to backward, which is then the two matmuls
  of the floor. On CUDA the masked exponentials are compiled with ``torch.compile`` when it is
  available (:mod:`contrastlab.losses._compiled`): a matmul plus one or two fused kernels.
* ``blocked``: the same row by row block, nothing kept: memory O(block) instead of O(Na N), one
  more matmul (backward recomputes each block with the shift ``lse`` folded into the product,
  see :mod:`contrastlab.losses._shift`).
* ``auto``: dense while what it keeps fits in ``KEEP_LIMIT_BYTES`` (the CPU's symmetric tiles:
  ``CPU_TILE_KEEP_LIMIT_BYTES``).

**Symmetric tiles, on the CPU only** (``_symmetric_tiles``). When the anchors are a multiple of the
contrast vectors (SupCon with ``contrast_mode='all'``, NT-Xent) and each anchor's self column is
its own index, S is symmetric: forward computes only the upper-triangle tiles with one scalar shift
(so exp(S - b) is symmetric too) and backward is one [N, N] x [N, 2D] product over them, kept
(``dense``) or recomputed (``blocked``). Forward + backward then cost less than the floor's three
[N, N, D] matmuls, which the CPU needs (its exponentials are expensive). The price of the one
shift: rows far below it lose their precision and are redone exactly, which needs a data-dependent
decision (one flag read). On the CPU reading a flag costs nothing (there is no device queue to
drain); on an accelerator it would stall the launch queue, so there the row routes run instead
(their matmuls are cheap). The tiles are used from ``SYMMETRIC_TILES_MIN_ROWS`` rows up.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from contrastlab._checks import check_choice
from contrastlab.losses._compiled import CompiledOnCuda
from contrastlab.losses._shift import finite_or_zero, shifted_operands
from contrastlab.losses._symmetric_tiles import symmetric_backward, symmetric_forward, tile_elements

KEEP_LIMIT_BYTES = 1 << 30
"""``memory='auto'`` keeps the probabilities from forward to backward when they fit in this many
bytes (1 GiB: one [16384, 16384] float32 matrix; the CPU's symmetric tiles keep about 5/8 of
that, N up to about 20000). Above that they are recomputed in backward."""

CPU_TILE_KEEP_LIMIT_BYTES = 64 << 20
"""On the CPU, ``memory='auto'`` keeps the symmetric tiles only up to 64 MiB: above that, the
fresh allocation's page faults cost more than recomputing the tiles in backward (B = 4096 per
view, N = 8192: recomputed 0.83-0.90x the matmul floor, kept 0.89-0.94x, three runs on the idle
2-core machine; B = 2048 kept 0.79x against recomputed 0.96x, docs/benchmarks.md)."""

_BLOCK_ELEMENTS = 1 << 22
"""Similarities per row block on the CPU (4M: 16 MB in float32). Large blocks mean few, large
operations: on a busy shared CPU every operation is a synchronisation point of the intra-op
threads, which costs more than the cache misses of a block that outgrows L2 (measured in
docs/benchmarks.md)."""

_DEVICE_BLOCK_ELEMENTS = 1 << 26
"""Similarities per row block of ``memory='blocked'`` on an accelerator (64M: 256 MB in float32):
blocks large enough that the kernel launches stay few (64 blocks at N = 65536)."""

_TILE_ELEMENTS = 1 << 24
"""Largest square tile of the symmetric case (4096 x 4096, 64 MB in float32): the recomputing
path's scratch memory."""

_TILES_PER_SIDE = 4
"""The symmetric case cuts S into about this many tiles per side (10 upper-triangle tiles), never
smaller than 1024 x 1024. The diagonal tiles are computed whole, so t tiles per side cost
1 / (2t) of S's matmul extra; more, smaller tiles mean more operations, and on a CPU shared with
other jobs every operation waits for all intra-op threads (measured in docs/benchmarks.md)."""

SYMMETRIC_TILES_MIN_ROWS = 4096
"""On the CPU, a symmetric S with at least this many rows uses the symmetric tiles (below it the
row routes cost about the same and launch fewer operations)."""

MEMORY_MODES = ("auto", "dense", "blocked")

DIAGONAL = "diagonal"
"""``self_index='diagonal'``: anchor i's own column is column i (the anchors are the first Na
contrast vectors, scaled), excluded with one diagonal write."""

SelfIndex = torch.Tensor | str | None


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precisions are promoted)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def default_block_rows(n_contrast: int, device_type: str = "cpu") -> int:
    """Rows per block so that one block holds about ``_BLOCK_ELEMENTS`` similarities on the CPU,
    ``_DEVICE_BLOCK_ELEMENTS`` on an accelerator."""
    elements = _BLOCK_ELEMENTS if device_type == "cpu" else _DEVICE_BLOCK_ELEMENTS
    return max(16, elements // max(n_contrast, 1))


def default_tile_side(n: int) -> int:
    """Side of the symmetric case's square tiles: about ``_TILES_PER_SIDE`` per side, between
    1024 and the side of ``_TILE_ELEMENTS``."""
    largest = math.isqrt(_TILE_ELEMENTS)
    return min(largest, max(min(1024, largest), -(-n // _TILES_PER_SIDE)))


def _mask_self(block: torch.Tensor, self_index: SelfIndex, row_offset: int, value: float) -> None:
    """Write ``value`` into each row's self column, in place; ``block`` holds rows
    ``row_offset, row_offset + 1, ...``. A tensor ``self_index`` < 0 means 'no self column'."""
    if self_index is None:
        return
    if isinstance(self_index, str):
        block.diagonal(offset=row_offset).fill_(value)
        return
    self_columns = self_index[row_offset : row_offset + block.shape[0]].unsqueeze(1)
    columns = self_columns.clamp(min=0)
    kept = block.gather(1, columns)
    block.scatter_(1, columns, torch.where(self_columns >= 0, value, kept))


def _is_symmetric(a: torch.Tensor, c: torch.Tensor, self_index: SelfIndex) -> bool:
    """True when a = alpha * c (to rounding) and row i's self column is i: then S = a c^T is
    symmetric. O(N D), but it reads values on the host (used only when the caller cannot say)."""
    if a.shape != c.shape or a.shape[0] < 2 or self_index is None:
        return False
    if not isinstance(self_index, str) and not torch.equal(
        self_index, torch.arange(a.shape[0], device=a.device)
    ):
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


# --- exact rows: the dense and blocked routes ---------------------------------------------------


def _exponentiate_block(
    block: torch.Tensor, self_index: SelfIndex, row_offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """In place: block = exp(S - rowmax) with the self columns at 0; returns ``(rowmax, rowsum)``
    (a row with nothing left has rowmax 0 and rowsum 0)."""
    _mask_self(block, self_index, row_offset, float("-inf"))
    row_max = finite_or_zero(block.amax(dim=1))
    block.sub_(row_max.unsqueeze(1)).exp_()
    return row_max, block.sum(dim=1)


def _dense_exponentials(
    a: torch.Tensor, c: torch.Tensor, self_index: SelfIndex
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(E, rowmax, rowsum)`` for the whole of S = a c^T at once (inputs left unchanged)."""
    block = torch.mm(a, c.t())
    row_max, row_sum = _exponentiate_block(block, self_index, 0)
    return block, row_max, row_sum


_DENSE_EXPONENTIALS = CompiledOnCuda(_dense_exponentials)


def _exact_forward(
    a: torch.Tensor,
    c: torch.Tensor,
    self_index: SelfIndex,
    block_rows: int,
    keep: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(lse, shift, normaliser, probabilities)`` with the exact row maximum as shift, row block
    by row block. ``probabilities`` is exp(S - shift) [Na, N] when ``keep``, else None (one block
    of scratch memory); the normaliser is its row sum. The shift is the row maximum, except 0 in a
    row with no contrast term (whose lse is -inf): see :func:`_row_max`."""
    n_anchors, n_contrast = a.shape[0], c.shape[0]
    if keep and block_rows >= n_anchors:
        probabilities, shift, normaliser = _DENSE_EXPONENTIALS(a, c, self_index, device=a.device)
    else:
        shift = a.new_empty(n_anchors)
        normaliser = torch.empty_like(shift)
        buffer = a.new_empty((n_anchors if keep else min(block_rows, n_anchors)) * n_contrast)
        c_t = c.t()
        for rows in _slices(n_anchors, block_rows):
            start = rows.start * n_contrast if keep else 0
            block = buffer[start : start + (rows.stop - rows.start) * n_contrast]
            block = torch.mm(a[rows], c_t, out=block.view(-1, n_contrast))
            shift[rows], normaliser[rows] = _exponentiate_block(block, self_index, rows.start)
        probabilities = buffer.view(n_anchors, n_contrast) if keep else None
    return shift + normaliser.log(), shift, normaliser, probabilities


def _row_max(lse: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The largest similarity of each row from :func:`_exact_forward`'s results: the shift, or
    -inf in a row with nothing left (lse >= shift elsewhere: its largest term is exp(0) = 1)."""
    return torch.minimum(shift, lse)


def _dense_backward(
    a: torch.Tensor,
    c: torch.Tensor,
    probabilities: torch.Tensor,
    normaliser: torch.Tensor,
    grad: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(grad_a, grad_c)`` of sum_i grad_i lse_i from the kept E: d lse_i / d S_ij = E_ij / z_i,
    with 1 / z_i and the upstream gradient folded into one weight on the [., D] operands."""
    weight = finite_or_zero(grad / normaliser).unsqueeze(1)
    return torch.mm(probabilities, c).mul_(weight), torch.mm(probabilities.t(), a * weight)


_DENSE_BACKWARD = CompiledOnCuda(_dense_backward)


def _exact_backward(
    a: torch.Tensor,
    c: torch.Tensor,
    self_index: SelfIndex,
    lse: torch.Tensor,
    grad: torch.Tensor,
    block_rows: int,
    grad_contrast: torch.Tensor,
) -> torch.Tensor:
    """Gradient wrt ``a`` of sum_i grad_i lse_i; adds the gradient wrt ``c`` to grad_contrast.

    P_ij = exp(s_ij - lse_i) <= 1 comes from one matmul with the shift folded in and one exp pass;
    the weights ``grad`` scale the [., D] operands.
    """
    n_contrast = c.shape[0]
    a_shifted, c_shifted = shifted_operands(a, c, lse)
    c_t = c_shifted.t()
    weighted_a = a * grad.unsqueeze(1)
    grad_anchors = torch.empty_like(a)
    scratch = a.new_empty(min(block_rows, a.shape[0]) * n_contrast)
    for rows in _slices(a.shape[0], block_rows):
        block = scratch[: (rows.stop - rows.start) * n_contrast].view(-1, n_contrast)
        torch.mm(a_shifted[rows], c_t, out=block)
        block.exp_()
        _mask_self(block, self_index, rows.start, 0.0)
        torch.mm(block, c, out=grad_anchors[rows])
        grad_contrast.addmm_(block.t(), weighted_a[rows])
    return grad_anchors.mul_(grad.unsqueeze(1))


# --- symmetric tiles (CPU) ----------------------------------------------------------------------


def _redo_exactly(
    a: torch.Tensor,
    c: torch.Tensor,
    block_rows: int,
    redo: torch.Tensor,
    lse: torch.Tensor,
    row_max: torch.Tensor | None,
) -> torch.Tensor | None:
    """Overwrite ``lse`` (and ``row_max``) of the rows flagged in ``redo`` with exact values;
    returns their indices, or None when no row is flagged (the usual case).

    Reads one flag on the host: the symmetric tiles run only on the CPU, where that is free.
    """
    if not bool(redo.any()):
        return None
    rows = redo.nonzero().squeeze(1)
    exact_lse, shift, _, _ = _exact_forward(a[rows], c, rows, block_rows, keep=False)
    lse[rows] = exact_lse
    if row_max is not None:
        row_max[rows] = _row_max(exact_lse, shift)
    return rows


def _symmetric_forward(
    ctx: FunctionCtx, a: torch.Tensor, c: torch.Tensor, keep: bool, need_max: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    lse, row_max, shift, redo, kept = symmetric_forward(a, c, ctx.block_rows, keep, need_max)
    redone = _redo_exactly(a, c, ctx.block_rows, redo, lse, row_max)
    ctx.save_for_backward(a, c, lse, shift, redo, kept, redone)
    return lse, row_max


def _symmetric_backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, c, lse, shift, redo, kept, redone = ctx.saved_tensors
    grad_contrast = torch.zeros_like(c)
    grad_anchors = symmetric_backward(
        a, c, lse, shift, grad, redo, ctx.block_rows, kept, grad_contrast
    )
    if redone is not None:
        grad_anchors[redone] = _exact_backward(
            a[redone], c, redone, lse[redone], grad[redone], ctx.block_rows, grad_contrast
        )
    return grad_anchors, grad_contrast


# --- autograd ------------------------------------------------------------------------------------


class _ContrastLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        anchors: torch.Tensor,
        contrast: torch.Tensor,
        self_index: SelfIndex,
        route: str,
        block_rows: int,
        need_max: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = compute_dtype(anchors, contrast)
        ctx.route, ctx.block_rows = route, block_rows
        ctx.input_dtypes = (anchors.dtype, contrast.dtype)
        with torch.autocast(device_type=anchors.device.type, enabled=False):
            a, c = anchors.to(dtype), contrast.to(dtype)
            if route.startswith("symmetric"):
                lse, row_max = _symmetric_forward(ctx, a, c, route == "symmetric-kept", need_max)
            else:
                keep = route == "dense"
                lse, shift, normaliser, probabilities = _exact_forward(
                    a, c, self_index, block_rows, keep
                )
                row_max = _row_max(lse, shift) if need_max else None
                if keep:
                    ctx.save_for_backward(a, c, normaliser, probabilities)
                else:
                    index_is_tensor = isinstance(self_index, torch.Tensor)
                    ctx.self_index = None if index_is_tensor else self_index
                    ctx.save_for_backward(a, c, lse, self_index if index_is_tensor else None)
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
            a, c = ctx.saved_tensors[:2]
            if ctx.route == "dense":
                _, _, normaliser, probabilities = ctx.saved_tensors
                grad_anchors, grad_contrast = _DENSE_BACKWARD(
                    a, c, probabilities, normaliser, grad_lse.to(a.dtype), device=a.device
                )
            elif ctx.route == "blocked":
                _, _, lse, saved_index = ctx.saved_tensors
                grad_contrast = torch.zeros_like(c)
                grad_anchors = _exact_backward(
                    a,
                    c,
                    ctx.self_index if saved_index is None else saved_index,
                    lse,
                    finite_or_zero(grad_lse.to(a.dtype)),
                    ctx.block_rows,
                    grad_contrast,
                )
            else:
                grad = finite_or_zero(grad_lse.to(a.dtype))
                grad_anchors, grad_contrast = _symmetric_backward(ctx, grad)
        return (
            grad_anchors.to(anchor_dtype) if ctx.needs_input_grad[0] else None,
            grad_contrast.to(contrast_dtype) if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
            None,
        )


def _check_self_index(
    self_index: SelfIndex, n_anchors: int, n_contrast: int, validate: bool
) -> None:
    if self_index is None:
        return
    if isinstance(self_index, str):
        if self_index != DIAGONAL:
            raise ValueError(
                f"self_index must be a tensor, None or {DIAGONAL!r}, got {self_index!r}"
            )
        if n_anchors > n_contrast:
            raise ValueError(
                f"self_index='diagonal' needs at most as many anchors as contrast rows, "
                f"got {n_anchors} > {n_contrast}"
            )
        return
    if self_index.shape != (n_anchors,) or self_index.dtype != torch.long:
        raise ValueError(
            f"self_index must be int64 of shape [{n_anchors}], "
            f"got {self_index.dtype} {tuple(self_index.shape)}"
        )
    if validate and n_anchors and int(self_index.max()) >= n_contrast:
        raise ValueError(f"self_index has a column >= the {n_contrast} contrast rows")


def _choose_route(
    memory: str, tile_side: int | None, n_anchors: int, n_contrast: int, element_size: int
) -> str:
    """The route for ``memory``; ``tile_side`` is None unless the symmetric tiles are used."""
    if memory == "auto":
        kept = (
            n_anchors * n_contrast
            if tile_side is None
            else tile_elements(n_anchors, min(tile_side, n_anchors))
        )
        limit = KEEP_LIMIT_BYTES if tile_side is None else CPU_TILE_KEEP_LIMIT_BYTES
        memory = "dense" if kept * element_size <= limit else "blocked"
    if tile_side is not None:
        return "symmetric-kept" if memory == "dense" else "symmetric-recomputed"
    return memory


def _default_block_rows(route: str, n_anchors: int, n_contrast: int, device_type: str) -> int:
    if route.startswith("symmetric"):
        return default_tile_side(n_anchors)
    if route == "dense" and device_type != "cpu":
        return max(n_anchors, 1)  # one block: the fewest kernels
    return default_block_rows(n_contrast, device_type)


def contrast_logsumexp(
    anchors: torch.Tensor,
    contrast: torch.Tensor,
    self_index: SelfIndex = None,
    memory: str = "auto",
    block_rows: int | None = None,
    with_row_max: bool = True,
    symmetric: bool | None = None,
    validate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Row-wise log-sum-exp of ``anchors @ contrast.T``, leaving out each anchor's own column.

    Args:
        anchors: [Na, D] floating tensor (fold the temperature in first: ``a / T``).
        contrast: [N, D] floating tensor.
        self_index: column of ``contrast`` excluded from row i (its own copy): an int64 [Na]
            tensor (a negative value for none), ``'diagonal'`` (column i, the fastest), or
            ``None`` to exclude nothing.
        memory: 'dense' (keep the probabilities for backward: the [Na, N] matrix, or on the CPU
            only the upper-triangle tiles when S is symmetric), 'blocked' (recompute them in
            backward: O(block) memory, one extra matmul, none extra for the CPU's symmetric tiles)
            or 'auto' (dense while what it keeps fits in ``KEEP_LIMIT_BYTES``).
        block_rows: rows per block (side of the square tiles in the symmetric case); by default a
            row block holds about 4M similarities on the CPU (256M elsewhere), 'dense' is one
            block on accelerators, and S is cut into about 4 x 4 tiles of 1024 to 4096 per side.
        with_row_max: also return the largest similarity of each row (in the symmetric case it
            costs two reductions per tile; pass False when it is not used).
        symmetric: whether ``anchors`` is a positive multiple of ``contrast`` and ``self_index``
            is the diagonal (then the CPU computes only half of S). None detects it when it can
            matter (CPU, at least ``SYMMETRIC_TILES_MIN_ROWS`` rows), reading values on the host;
            callers that know, pass it.
        validate: also check that ``self_index`` stays below N (reads a value on the host).

    Returns:
        ``(lse, row_max)``, both [Na] in float32 (float64 for float64 inputs). ``row_max`` is the
        largest similarity left in each row (not differentiable), or None when ``with_row_max``
        is False. A row with nothing left has ``lse = row_max = -inf``.

    No route reads a value on the host except the CPU's symmetric tiles (one flag); the number of
    operations does not depend on the values.
    """
    check_choice("memory", memory, MEMORY_MODES)
    if anchors.dim() != 2 or contrast.dim() != 2 or anchors.shape[1] != contrast.shape[1]:
        raise ValueError(
            f"anchors [Na, D] and contrast [N, D] must share D, "
            f"got {tuple(anchors.shape)} and {tuple(contrast.shape)}"
        )
    n_anchors, n_contrast = anchors.shape[0], contrast.shape[0]
    _check_self_index(self_index, n_anchors, n_contrast, validate)
    if block_rows is not None and block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    if symmetric and (anchors.shape != contrast.shape or self_index is None):
        raise ValueError("symmetric=True needs anchors and contrast of one shape and self_index")
    device_type = anchors.device.type
    tiles_possible = device_type == "cpu" and n_anchors >= SYMMETRIC_TILES_MIN_ROWS
    if symmetric is None:
        symmetric = tiles_possible and _is_symmetric(anchors, contrast, self_index)
    uses_tiles = bool(symmetric) and tiles_possible
    tile_side = (block_rows or default_tile_side(n_anchors)) if uses_tiles else None
    element_size = torch.finfo(compute_dtype(anchors, contrast)).bits // 8
    route = _choose_route(memory, tile_side, n_anchors, n_contrast, element_size)
    if block_rows is None:
        block_rows = _default_block_rows(route, n_anchors, n_contrast, device_type)
    block_rows = min(block_rows, max(n_anchors, 1))
    lse, row_max = _ContrastLogSumExp.apply(
        anchors, contrast, None if uses_tiles else self_index, route, block_rows, with_row_max
    )
    return lse, (row_max if with_row_max else None)
