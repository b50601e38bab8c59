"""The table synthesizer's settings, each default in one place, and the steps preset."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.schedule import SCHEDULES

EPOCHS = 100  # passes over the rows (CTGAN makes 300; the calibration fixes the marginals)
STEPS_PER_COLUMN = 150  # ... but at least this many steps per modelled column: pairs to learn
MIN_STEPS = 1000  # no table gets fewer
MAX_FLOOR = 4000  # the per-column floor stops here
MAX_STEPS = 20000
NARROW, WIDE = 128, 256  # network width for encoded rows up to NARROW values wide, and above


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
    g_width: int = _opt(0, "generator width (residual MLP); 0: the preset for the table")
    g_depth: int = _opt(2, "generator residual blocks")
    d_width: int = _opt(0, "discriminator width; 0: the preset for the table")
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


def preset_steps(n_rows: int, batch_size: int, n_columns: int = 0) -> int:
    """Generator updates for a table of ``n_rows`` and ``n_columns`` modelled columns:
    ``EPOCHS`` passes over the rows, but at least ``STEPS_PER_COLUMN`` per column (from
    ``MIN_STEPS`` up to ``MAX_FLOOR``: a small table with many columns has many pairs to
    learn) and at most ``MAX_STEPS``."""
    floor = min(MAX_FLOOR, max(MIN_STEPS, STEPS_PER_COLUMN * n_columns))
    return int(min(MAX_STEPS, max(floor, math.ceil(EPOCHS * n_rows / batch_size))))


def preset_width(data_dim: int) -> int:
    """Network width for rows encoded as ``data_dim`` values: ``NARROW`` up to ``NARROW``
    values, ``WIDE`` above (a few columns need no wide networks, and train faster)."""
    return NARROW if data_dim <= NARROW else WIDE
