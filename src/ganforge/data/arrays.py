"""Users' point sets from ``.npy``, ``.npz`` or numeric ``.csv`` files, shape ``(N, d)``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ganforge.errors import GanforgeError

SUFFIXES = (".npy", ".npz", ".csv")


def _read_csv(path: Path) -> np.ndarray:
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and not _is_numeric(rows[0]):
        rows = rows[1:]  # a header line
    out = []
    for i, row in enumerate(rows):
        try:
            out.append([float(c) for c in row])
        except ValueError:
            raise GanforgeError(
                f"{path}: row {i + 1} holds non-numeric text {row!r}; "
                "a point set needs numbers only (one header line is allowed)"
            ) from None
    if len({len(r) for r in out}) > 1:
        raise GanforgeError(f"{path}: rows have different numbers of columns; fix the file")
    return np.asarray(out, dtype=np.float64)


def _is_numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        for key in ("x", "X", "data", "arr_0"):
            if key in keys:
                return z[key]
        if len(keys) == 1:
            return z[keys[0]]
    raise GanforgeError(
        f"{path}: cannot tell which array holds the data among {keys}; "
        "name it 'x' or save a single array"
    )


def load_points(path: str | Path) -> np.ndarray:
    """Reads an ``(N, d)`` float32 point set and checks it.

    Raises:
        GanforgeError: missing file, unknown suffix, wrong shape, text, NaN or Inf.
    """
    path = Path(path)
    if not path.exists():
        raise GanforgeError(f"data file {path} does not exist; give an existing path")
    if path.suffix.lower() not in SUFFIXES:
        raise GanforgeError(
            f"cannot read {path}: expected one of {', '.join(SUFFIXES)} for a point set"
        )
    try:
        if path.suffix.lower() == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".npz":
            x = _read_npz(path)
        else:
            x = _read_csv(path)
    except (OSError, ValueError, EOFError) as e:
        if isinstance(e, GanforgeError):
            raise
        raise GanforgeError(f"cannot read {path}: {e}; check that the file is intact") from None
    return check_points(x, str(path))


def check_points(x: np.ndarray, name: str = "data") -> np.ndarray:
    """Validates an array as an ``(N, d)`` finite float set and returns it as float32."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise GanforgeError(f"{name}: expected numbers, found dtype {x.dtype}; convert to floats")
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise GanforgeError(
            f"{name}: expected a point set of shape (N, d) with N ≥ 2, got {x.shape}"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        raise GanforgeError(
            f"{name}: {int(bad.sum())} NaN or Inf value(s), first in row {row}; "
            "remove or impute them"
        )
    return x.astype(np.float32)
