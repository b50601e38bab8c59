"""Input checks shared by the sequence metrics: sequences as finite ``(N, T, d)`` arrays,
matching shapes and positive counts."""

from __future__ import annotations

import numpy as np
import torch

from ganforge.errors import GanforgeError

Device = str | torch.device


def as_sequences(x: object, name: str, min_rows: int = 1, min_steps: int = 2) -> np.ndarray:
    """``x`` as a finite float64 ``(N, T, d)`` array, or a :class:`GanforgeError` saying why not."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise GanforgeError(f"{name} is not numeric ({err}); pass an (N, T, d) array") from err
    if a.ndim != 3 or a.shape[2] == 0:
        raise GanforgeError(
            f"{name} must be a 3-D (N, T, d) array of sequences, got shape {a.shape}; "
            "add a feature axis of size 1 to univariate series"
        )
    if len(a) < min_rows:
        raise GanforgeError(
            f"{name} holds {len(a)} sequence(s), fewer than {min_rows}; pass at least {min_rows}"
        )
    if a.shape[1] < min_steps:
        raise GanforgeError(
            f"{name} has {a.shape[1]} time step(s), fewer than {min_steps}; "
            f"pass sequences of at least {min_steps} steps"
        )
    if not np.isfinite(a).all():
        raise GanforgeError(f"{name} contains NaN or Inf; remove or fix those sequences")
    return a


def same_shape(a: np.ndarray, b: np.ndarray, what: str, steps: bool = True) -> None:
    """Raise unless ``a`` and ``b`` have the same feature count (and length, if ``steps``)."""
    if a.shape[2] != b.shape[2] or (steps and a.shape[1] != b.shape[1]):
        raise GanforgeError(
            f"{what} have different shapes (N, {a.shape[1]}, {a.shape[2]}) and "
            f"(N, {b.shape[1]}, {b.shape[2]}); pass sequences of the same length and features"
        )


def positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise GanforgeError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


__all__ = ["Device", "as_sequences", "positive", "same_shape"]
