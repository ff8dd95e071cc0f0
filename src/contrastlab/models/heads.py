"""Projection heads composed from a list of blocks (as lightly's ``ProjectionHead``).

A block is ``(in_dim, out_dim, batch_norm, non_linearity)``: a ``Linear(in_dim, out_dim)`` followed
by the optional batch norm and non-linearity modules. The layers are stored flat in an
``nn.Sequential``, so SupContrast's MLP head (``Linear, ReLU, Linear``) has the same
``head.0.weight`` / ``head.2.weight`` parameter names as in its checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from contrastlab._checks import check_int

HeadBlock = tuple[int, int, nn.Module | None, nn.Module | None]


class ProjectionHead(nn.Sequential):
    """Linear layers, each optionally followed by a batch norm and a non-linearity.

    The linear layer has a bias only when no batch norm follows it (the BN shift replaces it).

    Shapes: ``forward(x [B, in_dim]) -> [B, out_dim]``.
    """

    def __init__(self, blocks: Sequence[HeadBlock]) -> None:
        if len(blocks) == 0:
            raise ValueError("ProjectionHead needs at least one block")
        layers: list[nn.Module] = []
        previous_out: int | None = None
        for index, block in enumerate(blocks):
            if len(block) != 4:
                raise ValueError(
                    f"block {index} must be (in_dim, out_dim, batch_norm, non_linearity), "
                    f"got {block!r}"
                )
            in_dim, out_dim, batch_norm, non_linearity = block
            for label, dim in (("in_dim", in_dim), ("out_dim", out_dim)):
                check_int(f"block {index}: {label}", dim)
            if previous_out is not None and in_dim != previous_out:
                raise ValueError(
                    f"block {index} takes in_dim={in_dim} but block {index - 1} "
                    f"gives {previous_out}"
                )
            layers.append(nn.Linear(in_dim, out_dim, bias=batch_norm is None))
            if batch_norm is not None:
                layers.append(batch_norm)
            if non_linearity is not None:
                layers.append(non_linearity)
            previous_out = out_dim
        super().__init__(*layers)
        self.in_dim: int = blocks[0][0]
        self.out_dim: int = blocks[-1][1]
        self.register_load_state_dict_pre_hook(_accept_bare_linear_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, in_dim] -> [B, out_dim]."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"ProjectionHead expects features of shape [B, {self.in_dim}], got {tuple(x.shape)}"
            )
        return super().forward(x)


def _accept_bare_linear_keys(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any
) -> None:
    """Load ``{prefix}weight`` / ``{prefix}bias`` (a head that was a bare ``nn.Linear``, as
    SupContrast's ``head='linear'``) into a single-layer head stored as ``{prefix}0.*``."""
    if len(module) != 1:
        return
    for name in ("weight", "bias"):
        if prefix + name in state_dict and prefix + "0." + name not in state_dict:
            state_dict[prefix + "0." + name] = state_dict.pop(prefix + name)


def mlp_head(
    in_dim: int, hidden_dim: int, out_dim: int, batch_norm: bool = False
) -> ProjectionHead:
    """SupContrast / SimCLR's MLP head ``Linear -> ReLU -> Linear`` ([B, in_dim] -> [B, out_dim]).

    With ``batch_norm=True`` a ``BatchNorm1d`` follows the hidden layer (SimCLR v2 style).
    """
    norm = nn.BatchNorm1d(hidden_dim) if batch_norm else None
    return ProjectionHead(
        [(in_dim, hidden_dim, norm, nn.ReLU(inplace=True)), (hidden_dim, out_dim, None, None)]
    )


def linear_head(in_dim: int, out_dim: int) -> ProjectionHead:
    """A single ``Linear(in_dim, out_dim)`` head ([B, in_dim] -> [B, out_dim])."""
    return ProjectionHead([(in_dim, out_dim, None, None)])
