"""Date and time columns: their format found among the common ones, values as float days
since 1970-01-01 for the model, and back in the column's own format."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError

# Tried in this order; the first that reads every value of a column is its format. Month
# first before day first where both read every value (a US-style 03/04/2024).
FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%Y-%m",
)
NATIVE = "native"  # the column holds pandas datetimes, not text
EPOCH = pd.Timestamp("1970-01-01")
SECOND = 1 / 86400  # in days


def is_text(col: pd.Series) -> bool:
    """Whether a column holds text (object or string dtype, not booleans or numbers)."""
    return pd.api.types.is_string_dtype(col) or col.dtype == object


def is_native(col: pd.Series) -> bool:
    """Whether a column holds pandas datetimes (timezones are not supported)."""
    return pd.api.types.is_datetime64_any_dtype(col)


def _parse(col: pd.Series, fmt: str) -> pd.Series:
    """Timestamps of ``col`` read in ``fmt``; NaT where a value does not fit."""
    return pd.to_datetime(col.astype(object), format=fmt, errors="coerce")


def detect_format(col: pd.Series) -> str | None:
    """The first of :data:`FORMATS` that reads every present value of a text column
    (:data:`NATIVE` for pandas datetimes); None when none does or the column holds no
    digits."""
    if is_native(col):
        return NATIVE
    present = col.dropna()
    if present.empty or not is_text(col):
        return None
    values = present.astype(str)
    if not values.str.contains(r"\d", regex=True).all():
        return None
    sample = values.iloc[: min(len(values), 200)]
    for fmt in FORMATS:
        if _parse(sample, fmt).notna().all() and _parse(values, fmt).notna().all():
            return fmt
    return None


def unit(fmt: str, days: np.ndarray | None = None) -> float:
    """The grid of a format, in days: 1 when it holds no time of day, else a second.

    A native column counts as dates when every value (``days``) is a whole day."""
    if fmt == NATIVE:
        whole = days is not None and bool(np.all(np.isnan(days) | (days == np.round(days))))
        return 1.0 if whole else SECOND
    return SECOND if any(c in fmt for c in ("%H", "%M", "%S")) else 1.0


def to_days(col: pd.Series, fmt: str, name: object = None) -> np.ndarray:
    """Float days since 1970-01-01 of each value (NaN where missing); a value that is not a
    date in ``fmt`` is an error that names it and its row."""
    if fmt == NATIVE:
        stamps = pd.to_datetime(col)
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_localize(None)
    else:
        if not is_text(col) and not col.isna().all():
            raise GanforgeError(
                f"column {name!r} holds {col.dtype} values, not dates as text; leave it out "
                "of --datetime or give it dates such as 2024-03-01"
            )
        stamps = _parse(col, fmt)
        bad = stamps.isna() & col.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise GanforgeError(
                f"column {name!r}: {col.iloc[row]!r} (row {row + 1}) is not a date in the "
                f"format {fmt}; fix the value, or leave the column out of --datetime"
            )
    delta = (stamps - EPOCH) / pd.Timedelta(days=1)
    return delta.to_numpy(dtype=np.float64, na_value=np.nan)


def from_days(days: np.ndarray, fmt: str, grid: float) -> pd.Series:
    """The inverse of :func:`to_days`: days rounded to ``grid`` and written in ``fmt``
    (pandas datetimes for :data:`NATIVE`); NaN days become missing values."""
    step = max(1.0, round(grid * 86400))  # the grid in whole seconds
    seconds = np.round(np.asarray(days, dtype=np.float64) * 86400 / step) * step
    stamps = pd.Series(pd.to_datetime(seconds, unit="s", origin="unix"))
    if fmt == NATIVE:
        return stamps
    out = stamps.dt.strftime(fmt).astype(object)
    return out.where(stamps.notna(), None)
