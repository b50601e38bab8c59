"""Helpers of the training loop: averaged statistics and Ctrl-C between steps."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SHOWN = ("d_loss", "g_loss", "acc_real", "acc_fake")  # in the progress bar


class Meter:
    """Averages the step statistics between two log lines, and the steps per second."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.count = 0
        self.t0 = time.perf_counter()

    def add(self, stats: dict[str, float]) -> None:
        """Adds one step's statistics."""
        for k, v in stats.items():
            self.totals[k] = self.totals.get(k, 0.0) + v
        self.count += 1

    def flush(self) -> dict[str, float]:
        """The averages since the last flush, and the steps per second; then starts over."""
        record = {k: v / self.count for k, v in self.totals.items()}
        record["steps_per_s"] = self.count / (time.perf_counter() - self.t0)
        self.totals, self.count, self.t0 = {}, 0, time.perf_counter()
        return record


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the step in progress was finished and checkpointed."""

    def __init__(self, step: int, path: Path | None) -> None:
        saved = f"checkpoint saved to {path}" if path else "nothing saved (no run directory)"
        super().__init__(f"interrupted after step {step}; {saved}")
        self.step, self.path = step, path


@contextmanager
def sigint_flag() -> Iterator[Callable[[], bool]]:
    """Turns Ctrl-C into a flag that the loop reads between steps (main thread only)."""
    hit: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, previous)
