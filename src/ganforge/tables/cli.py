"""Helpers for the command line's table options: ``--discrete COLS``, ``--continuous COLS``,
``--condition COL=VALUE`` and writing sampled rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
    """Writes sampled rows as CSV with a header (missing values as empty cells)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise GanforgeError(
            f"cannot write a table to {path.name}: tables are written as .csv; use -o FILE.csv"
        )
    df.to_csv(path, index=False)
