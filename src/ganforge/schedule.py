"""Learning-rate schedules: a factor of the base rate as a pure function of the step."""

from __future__ import annotations

import math

import torch

SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(step: int, total: int, kind: str = "constant", start: float = 0.0) -> float:
    """The factor for update ``step`` (1-based) of ``total``.

    The rate stays at its base value until ``start · total`` steps, then decays to 0 at
    ``total``, linearly or along a half cosine. Being a function of the step alone, it
    needs no state of its own to resume exactly.
    """
    if kind == "constant":
        return 1.0
    begin = start * total
    if step <= begin:
        return 1.0
    t = min(1.0, (step - begin) / max(1.0, total - begin))  # progress of the decay, 0..1
    if kind == "linear":
        return 1.0 - t
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {kind!r}; choose one of: {', '.join(SCHEDULES)}")


def linear_decay(step: int, total: int, fraction: float) -> float:
    """Falls linearly from 1 at step 1 to 0 after ``fraction · total`` steps, then stays 0."""
    return max(0.0, 1.0 - (step - 1) / max(1.0, fraction * total))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Sets the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
