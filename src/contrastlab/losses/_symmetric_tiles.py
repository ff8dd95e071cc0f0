"""Row-wise log-sum-exp of a symmetric similarity matrix, over the tiles of its upper triangle.

Used on the CPU only (see :mod:`contrastlab.losses._logsumexp`): its exact fallback for rows far
below the common shift is a data-dependent decision, free on the CPU, a stall on an accelerator.

When the anchors are a multiple of the contrast vectors (``a = alpha * c``: SupCon with
``contrast_mode='all'``, NT-Xent) and row i's excluded column is i, ``S = a c^T`` is symmetric and
every quantity of the log-sum-exp can be read from the tiles (I, J) with I <= J::

    b      = max_i |a_i| * max_j |c_j|            one scalar shift, >= every s_ij (Cauchy-Schwarz)
    E_ij   = exp(s_ij - b), E_ii = 0              symmetric as S is
    lse_i  = b + log sum_j E_ij                   row sums of tile (I, J) and column sums of (J, I)

and the gradient of sum_i g_i lse_i is, with w_i = g_i exp(b - lse_i) (so g_i P_ij = w_i E_ij)::

    d/da_i = w_i sum_j E_ij c_j                   d/dc_j = sum_i E_ij w_i a_i

Both are products of E with the stacked [N, 2D] matrix R = [c | w * a]: per tile,
``out_I += E_IJ R_J`` and ``out_J += E_IJ^T R_I``. Forward computes half of S (one matmul with
the shift folded in as an extra column, one ``exp`` pass); backward does the two [N, N] x [N, D]
products of the matmul floor, as one [N, N] x [N, 2D] product.

The tiles are either **kept** from forward to backward (about half of the [N, N] matrix, no
recomputation) or **recomputed** in backward (memory of one tile).

A row whose sum is tiny (log sum < -``SHIFT_GAP``: its similarities all lie far below the common
shift, as at tiny temperatures with unequal norms) would lose precision here; such rows are
flagged in ``redo`` and the caller computes them with their exact row maximum instead (they get
weight 0 in :func:`symmetric_backward`).

Shapes: ``a``, ``c`` [N, D] in the compute dtype; ``lse``, ``shift``, ``redo`` [N].
"""

from __future__ import annotations

import torch

from contrastlab.losses._shift import shifted_operands

SHIFT_GAP = 50.0
"""Rows with log sum_j exp(s_ij - b) < -SHIFT_GAP are redone exactly. The largest term of a row
kept is then >= exp(-SHIFT_GAP - log N), so the terms that matter (within ~20 of it) are normal
float32 numbers for any N below 10^7."""


def upper_tiles(n: int, side: int) -> list[tuple[slice, slice]]:
    """The tiles (rows, columns) of the upper triangle of an [n, n] matrix, diagonal included."""
    edges = [slice(start, min(start + side, n)) for start in range(0, n, side)]
    return [(rows, columns) for i, rows in enumerate(edges) for columns in edges[i:]]


def _tile_shapes(tiles: list[tuple[slice, slice]]) -> list[tuple[int, int]]:
    return [(rows.stop - rows.start, columns.stop - columns.start) for rows, columns in tiles]


def tile_elements(n: int, side: int) -> int:
    """Number of similarities in the upper-triangle tiles: what keeping them costs."""
    return sum(height * width for height, width in _tile_shapes(upper_tiles(n, side)))


def _shifted_tile(
    tile: torch.Tensor,
    a_shifted: torch.Tensor,
    c_shifted: torch.Tensor,
    rows: slice,
    columns: slice,
) -> None:
    """tile = S[rows, columns] - b, with the diagonal of S excluded (set to -inf)."""
    torch.mm(a_shifted[rows], c_shifted[columns].t(), out=tile)
    if rows == columns:
        tile.diagonal().fill_(float("-inf"))


def _kept_views(kept: torch.Tensor, tiles: list[tuple[slice, slice]]) -> list[torch.Tensor]:
    """Consecutive [rows, columns] views of the flat buffer ``kept``, one per tile."""
    views, offset = [], 0
    for height, width in _tile_shapes(tiles):
        views.append(kept[offset : offset + height * width].view(height, width))
        offset += height * width
    return views


def _tile_views(
    a: torch.Tensor, tiles: list[tuple[slice, slice]], keep: bool
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """``(kept, views)``: one view per tile, either parts of a new flat buffer ``kept`` (when
    ``keep``) or all on the same scratch memory (``kept`` is None)."""
    sizes = [height * width for height, width in _tile_shapes(tiles)]
    if keep:
        kept = a.new_empty(sum(sizes))
        return kept, _kept_views(kept, tiles)
    scratch = a.new_empty(max(sizes))
    return None, [
        scratch[:size].view(height, width)
        for size, (height, width) in zip(sizes, _tile_shapes(tiles), strict=True)
    ]


def symmetric_forward(
    a: torch.Tensor,
    c: torch.Tensor,
    side: int,
    keep: bool,
    need_max: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(lse, row_max, shift, redo, kept)`` for a symmetric S = a c^T without its diagonal.

    ``lse`` is final except for the rows flagged in ``redo`` (bool [N]), which the caller
    recomputes exactly. ``row_max`` (largest s_ij per row) only when ``need_max``. ``kept`` is the
    flat buffer of the tiles E (see :func:`_tile_views`) when ``keep``, else None.
    """
    n = a.shape[0]
    shift = a.norm(dim=1).amax() * c.norm(dim=1).amax()
    a_shifted, c_shifted = shifted_operands(a, c, shift)
    tiles = upper_tiles(n, side)
    kept, views = _tile_views(a, tiles, keep)
    sums = a.new_zeros(n)
    shifted_max = a.new_full((n,), float("-inf")) if need_max else None
    for (rows, columns), tile in zip(tiles, views, strict=True):
        _shifted_tile(tile, a_shifted, c_shifted, rows, columns)
        if shifted_max is not None:
            torch.maximum(shifted_max[rows], tile.amax(dim=1), out=shifted_max[rows])
            if rows != columns:
                torch.maximum(shifted_max[columns], tile.amax(dim=0), out=shifted_max[columns])
        tile.exp_()
        sums[rows] += tile.sum(dim=1)
        if rows != columns:
            sums[columns] += tile.sum(dim=0)
    log_sums = sums.log()
    lse = shift + log_sums
    redo = ~(log_sums >= -SHIFT_GAP) | ~torch.isfinite(shift.expand(n))
    row_max = None
    if shifted_max is not None:
        row_max = torch.minimum(shift + shifted_max, lse)  # rounding must not put max above lse
    return lse, row_max, shift.expand(n), redo, kept


def symmetric_backward(
    a: torch.Tensor,
    c: torch.Tensor,
    lse: torch.Tensor,
    shift: torch.Tensor,
    grad: torch.Tensor,
    redo: torch.Tensor,
    side: int,
    kept: torch.Tensor | None,
    grad_contrast: torch.Tensor,
) -> torch.Tensor:
    """Gradient wrt ``a`` of sum_i grad_i lse_i; adds the gradient wrt ``c`` to grad_contrast.

    Rows in ``redo`` get weight 0 here (the caller adds their exact gradient). ``kept`` is
    :func:`symmetric_forward`'s buffer, or None to recompute each tile.
    """
    n, dim = a.shape
    # w_i = g_i exp(b - lse_i); b - lse_i <= SHIFT_GAP on the rows kept: no overflow.
    used = ~redo & torch.isfinite(lse)
    exponent = torch.where(used, shift - lse, torch.zeros_like(lse))
    weight = torch.where(used, grad * torch.exp(exponent), torch.zeros_like(grad))
    stacked = torch.cat([c, a * weight.unsqueeze(1)], dim=1)  # R = [c | w a]   [N, 2D]
    out = torch.zeros_like(stacked)
    tiles = upper_tiles(n, side)
    if kept is None:
        a_shifted, c_shifted = shifted_operands(a, c, shift[0])
        _, views = _tile_views(a, tiles, keep=False)
    else:
        views = _kept_views(kept, tiles)
    for (rows, columns), tile in zip(tiles, views, strict=True):
        if kept is None:  # recompute exp(S - b) for this tile (0 on the diagonal)
            _shifted_tile(tile, a_shifted, c_shifted, rows, columns)
            tile.exp_()
        out[rows].addmm_(tile, stacked[columns])
        if rows != columns:
            out[columns].addmm_(tile.t(), stacked[rows])
    grad_contrast.add_(out[:, dim:])
    return out[:, :dim].mul_(weight.unsqueeze(1))
