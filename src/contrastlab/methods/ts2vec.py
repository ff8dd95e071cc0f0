"""TS2Vec as a training method (Yue et al., "TS2Vec: Towards Universal Representation of Time
Series", AAAI 2022).

For a batch ``x [B, C, L]``: two overlapping crops per series
(:func:`contrastlab.data.overlapping_crops.sample_overlapping_crops`), each encoded by the model
to per-timestamp representations (with the encoder's random timestamp mask in training), cut to
their common timestamps ``z1, z2 [B, T, D]``, then::

    loss = hierarchical_contrastive_loss(z1, z2, alpha, temporal_unit)

(:mod:`contrastlab.losses.hierarchical`: instance-wise and temporal contrast at every level of a
max-pooling pyramid). Labels are ignored: TS2Vec is self-supervised. Under DDP the instance-wise
negatives come from the process's own batch. Logged: ``overlap``, the overlap length ``T``.

**Series of unequal length** (padded with NaN, :mod:`contrastlab.data.nan_padding`): the crops
are drawn inside each series' valid length (the batch's shortest series sets the crop geometry),
so no view holds padding and the loss sees only real timestamps. The step copies the batch's
valid lengths ``[B]`` to the host (crop shapes are host integers); a batch without padding draws
exactly the crops it drew before padding was supported.

**Weight averaging.** TS2Vec encodes with the running average of the weights over all training
steps (``torch.optim.swa_utils.AveragedModel`` in its code). Given the network at construction,
the method keeps that average as ``averaged`` (a copy of the network, not trained): before each
step ``n = 1, 2, ...``::

    theta_avg <- theta_avg + (theta - theta_avg) / n

so after ``N`` steps ``theta_avg`` is the mean of the weights the steps started from,
``theta_0 .. theta_(N-1)`` (TS2Vec's: ``theta_1 .. theta_N``; one iterate apart). The average and
its count are part of ``state_dict()``, hence of checkpoints and resume.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from contrastlab.data.nan_padding import valid_lengths
from contrastlab.data.overlapping_crops import sample_overlapping_crops, take_crops
from contrastlab.losses.hierarchical import HierarchicalContrastiveLoss
from contrastlab.methods.contract import StepOutput, unwrap_model

ADAMW_ADVICE = (
    "lower --learning_rate, or train with TS2Vec's own optimizer (--optimizer adamw "
    "--learning_rate 0.001 --weight_decay 0.01 --lr_decay_rate 1), which copes with inputs of "
    "large or spiky values (or use --precision 32)"
)


class TS2VecMethod(nn.Module):
    """``loss = hierarchical contrast of two overlapping crops`` (see the module docstring).

    The model maps ``[B, C, L'] -> [B, L', D]`` for any crop length ``L'`` (one representation per
    input timestamp, e.g. :class:`contrastlab.models.ts2vec.TS2VecEncoder`).

    Args:
        average_of: the network ``fit`` trains, to keep the running average of its weights
            (``averaged``); None keeps no average. Build the method after the network's
            initialisation.
        alpha: weight of the instance-wise term (``1 - alpha``: temporal term).
        temporal_unit: first pyramid level with a temporal term; crops overlap on at least
            ``2^(temporal_unit + 1)`` timestamps.
        variable_length: the series are NaN-padded to a common length (unequal-length sets):
            crops then stay inside each series' valid length, which costs one read of the
            lengths per step; equal-length series read nothing.

    ``divergence_advice``: what the training loop suggests when the loss diverges (TS2Vec has
    no temperature; its own optimizer is AdamW).
    """

    divergence_advice = ADAMW_ADVICE

    def __init__(
        self,
        average_of: nn.Module | None = None,
        alpha: float = 0.5,
        temporal_unit: int = 0,
        variable_length: bool = False,
    ) -> None:
        super().__init__()
        self.criterion = HierarchicalContrastiveLoss(alpha, temporal_unit)
        self.variable_length = variable_length
        self._n_averaged_host: int | None = None  # mirrors the buffer: no device read per step
        self.averaged: nn.Module | None = None
        if average_of is not None:
            self.averaged = copy.deepcopy(unwrap_model(average_of))
            for parameter in self.averaged.parameters():
                parameter.requires_grad_(False)
        self.register_buffer("n_averaged", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update_average(self, model: nn.Module) -> None:
        """``theta_avg <- theta_avg + (theta - theta_avg) / n``, ``n`` counting this update."""
        if self.averaged is None:
            return
        current = [p.detach() for p in unwrap_model(model).parameters()]
        averaged = list(self.averaged.parameters())
        if [p.shape for p in current] != [p.shape for p in averaged]:
            raise ValueError(
                "the model passed to TS2VecMethod.forward does not have the architecture of the "
                "network the method averages"
            )
        if self._n_averaged_host is None:  # once, after construction or a checkpoint load
            self._n_averaged_host = int(self.n_averaged)
        self._n_averaged_host += 1
        self.n_averaged += 1
        torch._foreach_lerp_(averaged, current, 1.0 / self._n_averaged_host)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(*args, **kwargs)
        self._n_averaged_host = None  # read the loaded count again

    def forward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        if inputs.dim() != 3:
            raise ValueError(f"TS2Vec needs series [B, C, L], got {tuple(inputs.shape)}")
        if self.training:
            self.update_average(model)
        crops = sample_overlapping_crops(
            inputs.shape[0],
            inputs.shape[2],
            min_overlap=2 ** (self.criterion.temporal_unit + 1),
            # crop shapes are host integers: the valid lengths are read only when they vary
            lengths=valid_lengths(inputs).cpu() if self.variable_length else None,
        )
        z1 = model(take_crops(inputs, crops.view1_starts, crops.view1_length))
        z2 = model(take_crops(inputs, crops.view2_starts, crops.view2_length))
        for name, z, length in (
            ("view 1", z1, crops.view1_length),
            ("view 2", z2, crops.view2_length),
        ):
            if z.dim() != 3 or z.shape[:2] != (inputs.shape[0], length):
                raise ValueError(
                    f"a TS2Vec model must map [B, C, L'] to [B, L', D]; {name} of "
                    f"[{inputs.shape[0]}, {inputs.shape[1]}, {length}] gave {tuple(z.shape)}"
                )
        # A diverged step (unnormalised representations blow up first when the learning rate is
        # too high) is caught by the loop at its next read, with divergence_advice.
        loss = self.criterion(z1[:, -crops.overlap :], z2[:, : crops.overlap])
        return StepOutput(
            loss=loss, metrics={"overlap": float(crops.overlap)}, batch_size=inputs.shape[0]
        )
