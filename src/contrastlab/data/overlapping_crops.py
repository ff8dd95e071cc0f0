"""TS2Vec's contextual views: two random overlapping crops of every series (Yue et al. AAAI 2022,
Sec. 3.2, "random cropping").

For series of ``L`` timestamps one draw (shared by the batch) picks

- the overlap ``[a, b)`` with ``b - a = overlap`` uniform in ``[min_overlap, L]``;
- view 1 ``[a1, b)`` with ``a1`` uniform in ``[0, a]``, view 2 ``[a, b2)`` with ``b2`` uniform in
  ``[b, L]``: view 1 ends with the overlap, view 2 starts with it, and each sees a different
  context around it;

then every series ``i`` is shifted by its own offset ``o_i`` uniform in ``[-a1, L - b2]`` (both
views together, so the overlap stays aligned and stays inside the series). The overlap is
timestamps ``[L1 - overlap, L1)`` of view 1 and ``[0, overlap)`` of view 2, where ``L1 = b - a1``.

**Series of unequal length** (padded with NaN, :mod:`contrastlab.data.nan_padding`): with the
valid lengths ``L_i`` given, the draw above is made for the batch's shortest series,
``L = min_i L_i`` (the views keep one shape for the whole batch), and series ``i`` is shifted by
``o_i`` uniform in ``[-a1, L_i - b2]``: both views lie inside its own valid timestamps, so no
crop holds padding. TS2Vec's code instead moves the series to the middle of the padded length
and lets crops cover padding, which its encoder zeroes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastlab._checks import check_int


@dataclass(frozen=True)
class CropPair:
    """Where the two views of each series start (``[B]`` each), their lengths and the overlap."""

    view1_starts: torch.Tensor
    view1_length: int
    view2_starts: torch.Tensor
    view2_length: int
    overlap: int


def _uniform(low: int, high: int, generator: torch.Generator | None, size: int = 1) -> torch.Tensor:
    """Integers uniform in ``[low, high]`` (both ends included)."""
    return torch.randint(low, high + 1, (size,), generator=generator)


def _check_lengths(lengths: torch.Tensor, batch_size: int, length: int) -> torch.Tensor:
    if (
        not isinstance(lengths, torch.Tensor)
        or lengths.shape != (batch_size,)
        or lengths.is_floating_point()
        or lengths.device.type != "cpu"
    ):
        raise ValueError(
            f"lengths must be a CPU integer tensor [B] = [{batch_size}], got "
            f"{getattr(lengths, 'dtype', type(lengths).__name__)} "
            f"{tuple(getattr(lengths, 'shape', ()))}"
        )
    if bool((lengths < 1).any()) or bool((lengths > length).any()):
        raise ValueError(f"lengths must lie in [1, {length}], got {lengths.tolist()}")
    return lengths.long()


def sample_overlapping_crops(
    batch_size: int,
    length: int,
    min_overlap: int = 2,
    generator: torch.Generator | None = None,
    lengths: torch.Tensor | None = None,
) -> CropPair:
    """Draw a :class:`CropPair` for ``batch_size`` series of ``length`` timestamps (see the module
    docstring). ``min_overlap`` is ``2^(temporal_unit + 1)`` in TS2Vec (2 by default).

    ``lengths`` (``[B]`` integers on the CPU, each in ``[1, length]``): the series' valid
    lengths; the crops then lie inside each series' first ``lengths[i]`` timestamps (module
    docstring). Lengths that are all equal draw exactly what that common length draws without
    them.
    """
    batch_size = check_int("batch_size", batch_size)
    length = check_int("length", length)
    min_overlap = check_int("min_overlap", min_overlap)
    if lengths is not None:
        lengths = _check_lengths(lengths, batch_size, length)
        length = int(lengths.min())
    if length < min_overlap:
        raise ValueError(
            f"series of {length} timestamps are shorter than the minimum overlap {min_overlap}"
        )
    overlap = int(_uniform(min_overlap, length, generator))
    start = int(_uniform(0, length - overlap, generator))
    end = start + overlap
    view1_start = int(_uniform(0, start, generator))
    view2_end = int(_uniform(end, length, generator))
    if lengths is None or bool((lengths == length).all()):
        offsets = _uniform(-view1_start, length - view2_end, generator, size=batch_size)
    else:  # o_i uniform in [-a1, L_i - b2]: floor of a uniform draw over the L_i - b2 + a1 + 1
        choices = lengths - view2_end + view1_start + 1
        uniform = torch.rand(batch_size, generator=generator, dtype=torch.float64)
        offsets = (uniform * choices).floor().long() - view1_start
    return CropPair(
        view1_starts=offsets + view1_start,
        view1_length=end - view1_start,
        view2_starts=offsets + start,
        view2_length=view2_end - start,
        overlap=overlap,
    )


def take_crops(x: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """``x [B, C, L]``, ``starts [B]`` -> ``[B, C, length]`` with row ``i`` =
    ``x[i, :, starts[i] : starts[i] + length]`` (every window must lie inside the series)."""
    if x.dim() != 3 or starts.shape != (x.shape[0],):
        raise ValueError(
            f"take_crops needs x [B, C, L] and starts [B], got {tuple(x.shape)} and "
            f"{tuple(starts.shape)}"
        )
    if starts.device.type == "cpu":  # checked where the starts were drawn: no device read
        if bool((starts < 0).any()) or bool((starts + length > x.shape[2]).any()):
            raise ValueError(
                f"crops of {length} steps must lie inside series of {x.shape[2]} steps"
            )
        if x.device.type == "cuda":
            starts = starts.pin_memory()
    starts = starts.to(x.device, non_blocking=True)
    index = starts[:, None] + torch.arange(length, device=x.device)  # [B, length]
    return x.gather(2, index[:, None, :].expand(-1, x.shape[1], -1))
