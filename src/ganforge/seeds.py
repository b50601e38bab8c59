"""Seeds of a run's independent random streams, all derived from its one ``seed``."""

from __future__ import annotations

import numpy as np


def seeds(seed: int) -> list[int]:
    """Independent seeds for networks, noise, data and the trainer, from one seed."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(4)]


def child_seed(seed: int, key: int) -> int:
    """A seed of its own for one use ``key`` of the run's ``seed`` (apart from :func:`seeds`)."""
    return int(np.random.SeedSequence(seed, spawn_key=(key,)).generate_state(1)[0])
