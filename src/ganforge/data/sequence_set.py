"""Windows of time series: the :class:`SequenceSet` that every reader returns, and the
sliding windows cut from whole series."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")

DEFAULT_SEQ_LEN = 24


@dataclass
class SequenceSet:
    """Windows of one or more time series, all of the same length.

    Attributes:
        windows: float32 ``(N, T, d)``.
        features: the names of the ``d`` features (``x0``, ``x1``, ... for arrays).
        name: the data set's name or path (``"array"`` for an in-memory array).
        entity: the entity column of a long-format CSV, else ``None``.
        time: the time column of a long-format CSV, else ``None``.
        seq_len: the window length ``T``.
        stride: steps between the starts of neighbouring windows cut from one series; 0
            when the sequences were given whole (arrays of length ``T``, ``sines``).
    """

    windows: np.ndarray
    features: list[str]
    name: str
    entity: str | None = None
    time: str | None = None
    seq_len: int = 0
    stride: int = 0

    @property
    def shape(self) -> tuple[int, int]:
        """One window's shape ``(T, d)``."""
        return self.windows.shape[1], self.windows.shape[2]


def windowed(
    series: list[np.ndarray],
    features: list[str],
    name: str,
    seq_len: int,
    stride: int,
    *,
    warn_short: bool = False,
) -> SequenceSet:
    """Sliding windows of ``seq_len`` steps, ``stride`` apart, over each ``(L, d)`` series."""
    seq_len = seq_len or DEFAULT_SEQ_LEN
    longest = max(len(s) for s in series)
    if seq_len > longest:
        what = "every series" if len(series) > 1 else "the series"
        raise GanforgeError(
            f"{name}: --seq-len {seq_len} is longer than {what} (longest: {longest} steps); "
            "choose a smaller --seq-len"
        )
    short = sum(len(s) < seq_len for s in series)
    if short and warn_short:
        log.warning(
            "%s: skipped %d of %d entities shorter than --seq-len %d steps",
            name,
            short,
            len(series),
            seq_len,
        )
    parts = []
    for s in series:
        if len(s) < seq_len:
            continue
        # (n_windows, d, T) views, taken every `stride` starts, then made (n_windows, T, d)
        view = np.lib.stride_tricks.sliding_window_view(s, seq_len, axis=0)[::stride]
        parts.append(view.transpose(0, 2, 1))
    windows = np.concatenate(parts).astype(np.float32)
    return enough(SequenceSet(windows, list(features), name, seq_len=seq_len, stride=stride))


def enough(found: SequenceSet) -> SequenceSet:
    n = len(found.windows)
    if n < 2:
        raise GanforgeError(
            f"{found.name} gives only {n} window of {found.seq_len} steps; training needs at "
            "least 2: choose a smaller --seq-len or --stride, or give more data"
        )
    return found


__all__ = ["DEFAULT_SEQ_LEN", "SequenceSet", "enough", "windowed"]
