"""The optimizer of the shared training loop: SGD (SupContrast's) or AdamW (TS2Vec's).

- ``sgd``: ``v <- momentum v + (g + weight_decay w)``, ``w <- w - lr v`` (PyTorch's SGD with
  momentum and L2 weight decay folded into the gradient);
- ``adamw``: Adam's moments ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2`` with bias
  correction, ``w <- w - lr (m_hat / (sqrt(v_hat) + eps) + weight_decay w)`` (decoupled weight
  decay, Loshchilov & Hutter 2019), PyTorch's ``betas = (0.9, 0.999)``, ``eps = 1e-8``.

Either way the learning rate of every parameter group is then set step by step by
:class:`contrastlab.training.schedule.LRSchedule`; ``--momentum`` only applies to SGD.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from contrastlab.config.choices import OPTIMIZERS


def build_optimizer(
    parameters: Iterable[torch.nn.Parameter],
    name: str,
    learning_rate: float,
    weight_decay: float,
    momentum: float,
) -> torch.optim.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``parameters``."""
    parameters = list(parameters)
    if name == "sgd":
        return torch.optim.SGD(
            parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay
        )
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    raise ValueError(f"--optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")
