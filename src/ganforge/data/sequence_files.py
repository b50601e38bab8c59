"""Sequence files: ``.npy`` and ``.npz`` arrays and long-format CSV files read as
:class:`~ganforge.data.sequence_set.SequenceSet` windows, the array headers peeked at to
detect sequence data without loading it, and :func:`write_long_csv`."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.data.sequence_set import SequenceSet, enough, windowed
from ganforge.errors import GanforgeError

_NPZ_KEYS = ("x", "X", "data")


# ---------------------------------------------------------------- arrays


def read_array_file(path: Path, suffix: str) -> np.ndarray:
    try:
        if suffix == ".npy":
            with path.open("rb") as f:
                header = _array_header(f)
            if header is not None and header[1].hasobject:
                raise GanforgeError(_ragged(str(path), "holds an object array"))
            return np.load(path, allow_pickle=False)
        return _read_npz(path)
    except GanforgeError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        if "Object arrays" in str(e):
            raise GanforgeError(_ragged(str(path), "holds an object array")) from None
        raise GanforgeError(f"cannot read {path}: {e}; check that the file is intact") from None


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        key = next((k for k in _NPZ_KEYS if k in keys), None)
        if key is not None:
            return z[key]
        if len(keys) > 1:
            arrays = [z[k] for k in keys]
            if len({a.ndim for a in arrays}) == 1 and arrays[0].ndim in (1, 2):
                return _stack_sequences(arrays, str(path))
        if "arr_0" in keys:
            return z["arr_0"]
        if len(keys) == 1:
            return z[keys[0]]
    raise GanforgeError(
        f"{path}: cannot tell which array holds the sequences among {keys}; "
        "name it 'x' or save a single array"
    )


def _stack_sequences(arrays: list[np.ndarray], name: str) -> np.ndarray:
    """One array from sequences saved one by one (each ``(T,)`` or ``(T, d)``)."""
    lengths = sorted({len(a) for a in arrays})
    if len(lengths) > 1:
        shown = ", ".join(str(n) for n in lengths[:5]) + (", ..." if len(lengths) > 5 else "")
        raise GanforgeError(_ragged(name, f"holds {len(arrays)} sequences of lengths {shown}"))
    if len({a.shape for a in arrays}) > 1:
        raise GanforgeError(
            f"{name}: sequences have different numbers of features "
            f"{sorted({a.shape[1] for a in arrays})}; give them all one shape (T, d)"
        )
    return np.stack(arrays)


def _ragged(name: str, what: str) -> str:
    return f"ragged sequences: {name} {what}; pad or cut them to one length T"


def from_array(x: np.ndarray, name: str, seq_len: int, stride: int) -> SequenceSet:
    if x.dtype.hasobject:
        raise GanforgeError(_ragged(name, "is an object array"))
    if x.dtype.kind not in "biuf":
        raise GanforgeError(f"{name}: expected numbers, found dtype {x.dtype}; convert to floats")
    if x.ndim == 2:
        x = x[:, :, None]  # (N, T) is one feature
    if x.ndim != 3 or min(x.shape) < 1:
        raise GanforgeError(
            f"{name}: expected sequences of shape (N, T, d) or (N, T), got {x.shape}"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        i, t, k = (int(v) for v in np.argwhere(bad)[0])
        raise GanforgeError(
            f"{name}: {int(bad.sum())} NaN or Inf value(s), first in sequence {i}, step {t}, "
            f"feature {k}; remove or impute them"
        )
    features = [f"x{k}" for k in range(x.shape[2])]
    if seq_len in (0, x.shape[1]):
        if x.shape[1] < 2:
            raise GanforgeError(
                f"{name}: sequences of {x.shape[1]} step are too short; a sequence needs at "
                "least 2 steps (T ≥ 2)"
            )
        return enough(SequenceSet(x.astype(np.float32), features, name, seq_len=x.shape[1]))
    return windowed(list(x), features, name, seq_len, stride)


# ---------------------------------------------------------------- long-format CSV


def from_csv(path: Path, seq_len: int, stride: int, entity: str, time: str) -> SequenceSet:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise GanforgeError(f"{path} is empty; give a CSV file with a header and rows") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise GanforgeError(f"cannot read {path}: {e}; check that the file is intact") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    for option, column in (("--entity", entity), ("--time", time)):
        if column and column not in columns:
            raise GanforgeError(
                f"{path} has no column {column!r} for {option}; its columns are: "
                f"{', '.join(columns)}"
            )
    if entity and entity == time:
        raise GanforgeError(f"--entity and --time both name {entity!r}; give two columns")
    features = [c for c in columns if c not in (entity, time)]
    if not features:
        raise GanforgeError(f"{path} has no feature columns besides --entity and --time")
    if len(frame) == 0:
        raise GanforgeError(f"{path} has a header but no rows; give one row per time step")
    values = np.stack([_numeric(frame[c], c, path) for c in features], axis=1)
    bad = ~np.isfinite(values)
    if bad.any():
        row, k = (int(v) for v in np.argwhere(bad)[0])
        raise GanforgeError(
            f"{path}: {int(bad.sum())} NaN, Inf or empty value(s), first in column "
            f"{features[k]!r}, data row {row + 1}; remove or impute them"
        )
    if entity:
        _no_empty(frame[entity], entity, "--entity", path)
        codes, names = pd.factorize(frame[entity], sort=False)  # order of first appearance
    else:
        codes, names = np.zeros(len(frame), dtype=np.int64), [None]
    if time:
        stamps = _time_key(frame[time], time, path)
        order = np.lexsort((stamps, codes))
        entities = names if entity else None
        _no_duplicate_times(stamps[order], codes[order], order, frame[time], entities, path)
    else:
        order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(names)))
    series = np.split(values[order], ends[:-1])
    found = windowed(series, features, str(path), seq_len, stride, warn_short=True)
    found.entity, found.time = entity or None, time or None
    return found


def _numeric(column: Any, name: str, path: Path) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_numeric(column, errors="coerce")
    text = column[parsed.isna() & column.notna()]
    if len(text) == 0:  # all numbers or empty cells, held as text
        return parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    example, row = _plain(text.iloc[0]), int(text.index[0]) + 1
    raise GanforgeError(
        f"{path}: column {name!r} holds non-numeric values such as {example!r} (data row "
        f"{row}); drop the column or give it as --entity or --time"
    )


def _no_empty(column: Any, name: str, option: str, path: Path) -> None:
    empty = column.isna().to_numpy()
    if empty.any():
        raise GanforgeError(
            f"{path}: column {name!r} ({option}) has {int(empty.sum())} empty value(s), first "
            f"in data row {int(np.argmax(empty)) + 1}; fill them in or drop those rows"
        )


def _time_key(column: Any, name: str, path: Path) -> np.ndarray:
    """Sortable numbers for a time column of numbers or dates."""
    import pandas as pd

    _no_empty(column, name, "--time", path)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64)
    try:
        stamps = pd.to_datetime(column)
    except (ValueError, TypeError, OverflowError):
        example = column.iloc[0]
        for value in column:
            try:
                pd.to_datetime(value)
            except (ValueError, TypeError, OverflowError):
                example = value
                break
        raise GanforgeError(
            f"{path}: time column {name!r} holds values that are neither numbers nor dates of "
            f"one format, such as {example!r}; write them as numbers or ISO dates (2020-01-31)"
        ) from None
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    # Counts of the column's own time unit: comparable within the column, which is all
    # that sorting and the duplicate check need.
    return stamps.to_numpy().astype(np.int64)


def _no_duplicate_times(
    stamps: np.ndarray,
    codes: np.ndarray,
    order: np.ndarray,
    raw: Any,
    entities: Any,
    path: Path,
) -> None:
    """Raises on the first time stamp that occurs twice within one entity (rows sorted)."""
    same = (stamps[1:] == stamps[:-1]) & (codes[1:] == codes[:-1])
    if same.any():
        j = int(np.argmax(same))
        first, second = int(order[j]), int(order[j + 1])
        if entities is None:
            who, fix = "the series", "drop the duplicates, or name the entity column with --entity"
        else:
            who, fix = f"entity {_plain(entities[int(codes[j])])!r}", "drop the duplicates"
        raise GanforgeError(
            f"{path}: {who} has two rows at time {_plain(raw.iloc[first])!r} (data rows "
            f"{min(first, second) + 1} and {max(first, second) + 1}); each time stamp may "
            f"occur once per series: {fix}"
        )


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds, so that messages show ``1``, not
    ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- headers and output


def _array_header(f: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype from an open ``.npy`` stream, without reading the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        return None
    return shape, dtype


def file_header(path: Path, suffix: str) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype of the array :func:`load_sequences` would read from a file."""
    if suffix == ".npy":
        with path.open("rb") as f:
            return _array_header(f)
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.endswith(".npy")]
        headers = {}
        for n in names:
            with zf.open(n) as f:
                headers[n[:-4]] = _array_header(f)
    if any(h is None for h in headers.values()):
        return None
    key = next((k for k in _NPZ_KEYS if k in headers), None)
    if key is not None:
        return headers[key]
    found = list(headers.values())
    if len(found) > 1 and len({len(h[0]) for h in found}) == 1 and len(found[0][0]) in (1, 2):
        return (len(found), *found[0][0]), np.result_type(*(h[1] for h in found))
    if "arr_0" in headers:
        return headers["arr_0"]
    return found[0] if len(found) == 1 else None


def write_long_csv(
    samples: np.ndarray,
    path: str | Path,
    features: list[str],
    entity: str | None,
    time: str | None,
) -> None:
    """Writes windows ``(N, T, d)`` as a long-format CSV file with a header.

    One row per window and step: the window's index in a column named ``entity`` (or
    ``sequence``), the step ``0 .. T-1`` in a column named ``time`` (or ``step``), then one
    column per feature with 9 significant digits, enough to give float32 values back
    exactly. :func:`load_sequences` reads the file back with ``entity`` and ``time``.
    """
    samples = np.asarray(samples)
    if samples.ndim != 3 or samples.shape[2] != len(features):
        raise GanforgeError(
            f"write_long_csv needs samples (N, T, {len(features)}) for {len(features)} "
            f"features, got {samples.shape}"
        )
    header = [entity or "sequence", time or "step", *features]
    if len(set(header)) < len(header):
        raise GanforgeError(f"column names repeat in {header}; rename the entity or time column")
    n, t, d = samples.shape
    index = np.repeat(np.arange(n), t)
    step = np.tile(np.arange(t), n)
    values = samples.reshape(n * t, d).astype(np.float64)
    with Path(path).open("w", newline="") as f:
        csv.writer(f).writerow(header)
        rows = np.column_stack([index, step, values])
        np.savetxt(f, rows, fmt=["%d", "%d", *(["%.9g"] * d)], delimiter=",")


__all__ = ["file_header", "from_array", "from_csv", "read_array_file", "write_long_csv"]
