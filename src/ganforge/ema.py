"""Exponential moving average of a network's weights (and a copy of its buffers)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``ema = d·ema + (1 - d)·w`` for every weight, and copies every buffer.

    The effective decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
    so that a short run is not dominated by the random initial weights. Without the ramp-up
    (``warmup=False``) every update uses ``self.decay``, which a schedule may set before each
    update (an EMA half-life in images seen).

    Args:
        module: the network to follow; a frozen copy of it is kept in ``self.module``.
        decay: the decay ``d`` in ``[0, 1)``.
        warmup: ramp the decay up as above.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses (with the ramp-up, if on)."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Moves the average towards ``module``'s current weights and copies its buffers."""
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_(list(self.module.parameters()), list(module.parameters()), weight)
        for mine, theirs in zip(self.module.buffers(), module.buffers(), strict=True):
            mine.copy_(theirs)
        self.num_updates += 1

    def state_dict(self) -> dict:
        """The averaged network's state and the update count."""
        return {"module": self.module.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.module.load_state_dict(state["module"])
        self.num_updates = int(state["num_updates"])
