"""The table synthesizer's settings, each default in one place, and the steps preset."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.schedule import SCHEDULES

MIN_STEPS = 4000  # no table, however small, gets fewer generator updates
EPOCHS = 300  # passes over the rows that a large table gets (CTGAN's default)
MAX_STEPS = 20000


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class TableOptions:
    """Everything that defines a table synthesizer; a CLI can derive its flags from the
    fields' ``help`` metadata."""

    steps: int = _opt(0, "generator updates; 0: the preset for the table's size")
    batch_size: int = _opt(300, "rows per batch, real and generated alike (a multiple of pack)")
    pack: int = _opt(2, "rows the discriminator judges together (PacGAN)")
    latent_dim: int = _opt(128, "dimension of the random input")
    g_width: int = _opt(256, "generator width (residual MLP)")
    g_depth: int = _opt(2, "generator residual blocks")
    d_width: int = _opt(256, "discriminator width")
    d_depth: int = _opt(2, "discriminator hidden layers")
    lr_g: float = _opt(2e-4, "generator learning rate (Adam)")
    lr_d: float = _opt(2e-4, "discriminator learning rate (Adam)")
    beta1: float = _opt(0.5, "Adam beta1")
    beta2: float = _opt(0.9, "Adam beta2")
    weight_decay: float = _opt(1e-6, "Adam weight decay")
    n_critic: int = _opt(1, "discriminator updates per step")
    lr_schedule: str = _opt("constant", f"learning-rate schedule ({', '.join(SCHEDULES)})")
    ema_decay: float = _opt(0.999, "EMA of the generator's weights for sampling (0: off)")
    tau: float = _opt(0.2, "Gumbel-softmax temperature")
    hard: bool = _opt(False, "straight-through (exact) one-hots in training")
    max_modes: int = _opt(10, "most modes per continuous column")
    mode_weight_threshold: float = _opt(0.005, "modes of smaller weight are dropped")
    clip: bool = _opt(True, "keep sampled values inside the real range")
    calibrate: bool = _opt(True, "map sampled continuous columns onto the real marginals")
    seed: int = _opt(0, "seed of every random draw")
    threads: int = _opt(0, "torch CPU threads (0: time 1 and all cores, keep the faster)")

    def __post_init__(self) -> None:
        if self.lr_schedule not in SCHEDULES:
            raise GanforgeError(
                f"unknown lr_schedule {self.lr_schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )


def preset_steps(n_rows: int, batch_size: int) -> int:
    """Generator updates for a table of ``n_rows``: ``EPOCHS`` passes over the rows, but
    never fewer than ``MIN_STEPS`` (small tables must not be under-trained) nor more than
    ``MAX_STEPS``."""
    return int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(EPOCHS * n_rows / batch_size))))
