"""Helpers for the command line's table options: ``--discrete COLS``, ``--continuous COLS``,
``--condition COL=VALUE`` and writing sampled rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError


def parse_columns(text: str | None) -> list[str]:
    """``"a, b,c"`` → ``["a", "b", "c"]`` (``None`` or empty → ``[]``)."""
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def parse_conditions(items: Sequence[str] | None) -> dict[str, str]:
    """``["city=rome", "kids=2"]`` → ``{"city": "rome", "kids": "2"}``; each value is matched
    against the column's categories by text when sampling."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise GanforgeError(f"--condition {item!r}: expected COLUMN=VALUE, e.g. city=rome")
        if name.strip() in out:
            raise GanforgeError(f"--condition: column {name.strip()!r} given twice; give it once")
        out[name.strip()] = value.strip()
    return out


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Writes sampled rows: ``.csv`` with a header (missing values as empty cells), or, for
    a table of numbers and booleans only, a float ``(N, d)`` array in ``.npy``/``.npz``
    (booleans as 0/1, missing values as NaN; the column order of the table)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
        return
    if suffix not in (".npy", ".npz"):
        raise GanforgeError(f"cannot write a table to {path.name}: use -o FILE.csv (or .npy)")
    text = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if text:
        raise GanforgeError(
            f"cannot write {path.name}: column(s) {', '.join(text)} hold text, which a float "
            "array cannot; use -o FILE.csv"
        )
    x = df.astype("float64").to_numpy()
    if suffix == ".npy":
        np.save(path, x)
    else:
        np.savez(path, x=x)
