"""``build_optimizer``: one step of each optimizer against its closed form, and bad names."""

from __future__ import annotations

import pytest
import torch

from contrastlab.training.optimizer import build_optimizer

W0, G, LR, DECAY = 2.0, -0.5, 0.1, 0.3


def steps(name: str, count: int = 1, momentum: float = 0.9) -> float:
    """The weight after ``count`` steps from ``W0``, each with the gradient ``G``."""
    weight = torch.nn.Parameter(torch.tensor([W0], dtype=torch.float64))
    optimizer = build_optimizer([weight], name, LR, DECAY, momentum)
    for _ in range(count):
        weight.grad = torch.tensor([G], dtype=torch.float64)
        optimizer.step()
    return float(weight)


def test_sgd_adds_l2_decay_to_the_gradient_and_carries_momentum():
    # Step 1: the buffer is the decayed gradient itself; step 2 adds 0.9 of it again.
    buffer = G + DECAY * W0
    w1 = W0 - LR * buffer
    buffer = 0.9 * buffer + G + DECAY * w1
    assert steps("sgd", 1) == pytest.approx(w1, abs=1e-15)
    assert steps("sgd", 2) == pytest.approx(w1 - LR * buffer, abs=1e-15)


def test_adamw_first_step_is_a_unit_step_plus_decoupled_decay():
    # First step: m_hat = g and v_hat = g^2, so m_hat / (sqrt(v_hat) + eps) is sign(g) up to eps;
    # the decay shrinks the weight by lr * decay * w, independently of the gradient.
    expected = W0 * (1 - LR * DECAY) - LR * G / (abs(G) + 1e-8)
    assert steps("adamw") == pytest.approx(expected, abs=1e-12)
    assert steps("adamw", 2, momentum=0.0) == steps("adamw", 2, momentum=0.5)  # momentum unused


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match=r"--optimizer must be one of.*'adam'"):
        build_optimizer([torch.nn.Parameter(torch.ones(1))], "adam", 0.1, 0.0, 0.9)
