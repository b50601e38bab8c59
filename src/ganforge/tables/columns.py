"""What each column of a table is: continuous, categorical or constant, with its dtype,
range, categories and missing values; inferred from the data, overridable by name."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError

MAX_INTEGER_CATEGORIES = 10  # integer columns with at most this many values are categorical
KINDS = ("continuous", "categorical", "constant")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table, as the transformer and the metrics see it.

    Attributes:
        name: the column's name in the table (a string, or an int for unnamed columns).
        kind: ``"continuous"``, ``"categorical"`` or ``"constant"`` (passed through).
        dtype: the column's pandas dtype, as a string (``"int64"``, ``"float64"``, ``"str"``).
        integer: every value is a whole number (continuous columns are rounded back).
        missing: the column has missing values.
        low, high: the real range of a continuous column (None otherwise).
        categories: the values of a categorical column, ``None`` standing for missing.
        value: the value of a constant column (``None``: every value is missing).
    """

    name: str | int
    kind: str
    dtype: str
    integer: bool = False
    missing: bool = False
    low: float | None = None
    high: float | None = None
    categories: tuple[Any, ...] = ()
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (categories as a list)."""
        out = asdict(self)
        out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "categories": tuple(d.get("categories", ()))})


def native(value: Any) -> Any:
    """A cell as a plain JSON-able Python value; every kind of missing becomes ``None``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if not isinstance(value, (bool, int, float, str)):
        raise GanforgeError(
            f"cannot model the value {value!r} of type {type(value).__name__}; a table holds "
            "numbers, strings and booleans: convert the column first"
        )
    return value


def _sort_key(value: Any) -> tuple[int, str, Any]:
    """Orders categories by type, then value; ``None`` (missing) last."""
    if value is None:
        return (2, "", 0)
    return (0 if isinstance(value, (bool, int, float)) else 1, type(value).__name__, value)


def _is_integral(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _check_names(df: pd.DataFrame, names: Sequence[str | int] | None, flag: str) -> set:
    names = list(names or [])
    unknown = [n for n in names if n not in df.columns]
    if unknown:
        raise GanforgeError(
            f"{flag}: no column named {', '.join(map(repr, unknown))}; the table has: "
            + ", ".join(map(str, df.columns))
        )
    return set(names)


def infer_columns(
    df: pd.DataFrame,
    discrete: Sequence[str | int] | None = None,
    continuous: Sequence[str | int] | None = None,
    max_integer_categories: int = MAX_INTEGER_CATEGORIES,
) -> list[ColumnSpec]:
    """The spec of every column of ``df``, in order.

    Numbers are continuous, unless they are whole numbers with at most
    ``max_integer_categories`` distinct values; strings and booleans are categorical; a column
    with a single value and no missing ones (or only missing ones) is constant.
    ``discrete`` and ``continuous`` name columns whose kind is forced.
    """
    if not isinstance(df, pd.DataFrame):
        raise GanforgeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) < 2 or df.shape[1] < 1:
        raise GanforgeError(f"a table needs at least 2 rows and 1 column, got shape {df.shape}")
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()].tolist()
        raise GanforgeError(f"duplicate column names {dup}; give every column its own name")
    forced_d = _check_names(df, discrete, "--discrete")
    forced_c = _check_names(df, continuous, "--continuous")
    both = forced_d & forced_c
    if both:
        raise GanforgeError(
            f"column(s) {', '.join(map(repr, sorted(map(str, both))))} named in both --discrete "
            "and --continuous; choose one"
        )
    return [_infer(df[name], name, forced_d, forced_c, max_integer_categories) for name in df]


def _infer(
    col: pd.Series, name: Any, forced_d: set, forced_c: set, max_int_cats: int
) -> ColumnSpec:
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        raise GanforgeError(f"column name {name!r} is not a string; name the columns")
    dtype = str(col.dtype)
    missing_mask = col.isna().to_numpy()
    present = col[~missing_mask]
    missing = bool(missing_mask.any())
    if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
        raise GanforgeError(
            f"column {name!r} holds dates or durations ({dtype}); convert it to numbers "
            "(e.g. days since a date) or strings first"
        )
    if present.empty or (present.nunique() == 1 and not missing):
        value = None if present.empty else native(present.iloc[0])
        return ColumnSpec(name, "constant", dtype, missing=missing, value=value)
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    values = present.to_numpy(dtype=np.float64) if numeric else None
    integer = values is not None and _is_integral(values)
    if name in forced_c and not numeric:
        raise GanforgeError(
            f"--continuous {name}: the column holds {dtype} values, not numbers; "
            "leave it categorical or convert it"
        )
    if name in forced_c:
        kind = "continuous"
    elif name in forced_d or not numeric:
        kind = "categorical"
    else:
        few = integer and present.nunique() <= max_int_cats
        kind = "categorical" if few else "continuous"
    if kind == "continuous":
        assert values is not None
        return ColumnSpec(
            name,
            kind,
            dtype,
            integer=integer,
            missing=missing,
            low=float(values.min()),
            high=float(values.max()),
        )
    cats = sorted({native(v) for v in present.unique()}, key=_sort_key)
    if missing:
        cats.append(None)
    return ColumnSpec(name, kind, dtype, missing=missing, categories=tuple(cats))


def read_table(path: str | Path) -> pd.DataFrame:
    """Reads a CSV file with a header line as a table; a clear error when it cannot."""
    path = Path(path)
    if not path.exists():
        raise GanforgeError(f"data file {path} does not exist; give an existing path")
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise GanforgeError(f"cannot read {path} as a table: {str(e).splitlines()[0]}") from None
    if df.shape[0] < 2 or df.shape[1] < 1:
        raise GanforgeError(f"{path}: a table needs a header line and at least 2 rows")
    return df


def is_point_set(df: pd.DataFrame) -> bool:
    """Whether a table is better treated as a plain ``(N, d)`` point set: every column holds
    numbers (not booleans), none is missing, and none would be categorical.

    Such CSV files (the 2-D toy sets, say) keep training as points; anything else is a table.
    """
    for name in df.columns:
        col = df[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            return False
        if col.isna().any():
            return False
    specs = infer_columns(df)
    return all(s.kind != "categorical" for s in specs)
