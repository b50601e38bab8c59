"""Time series as fixed-length windows ``(N, T, d)``: built-in sets, users' arrays and
long-format CSV files, served as a seeded batch stream normalised to ``[0, 1]``."""

from __future__ import annotations

import csv
import logging
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.data.stream import ShuffledStream
from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")

SEQUENCE_BUILTIN = ("sines", "macro")
SEQUENCE_SUFFIXES = (".npy", ".npz", ".csv")
DEFAULT_SEQ_LEN = 24
SINES_N = 10000
SINES_DIM = 5
_NPZ_KEYS = ("x", "X", "data")


def sines(
    n: int = SINES_N, seq_len: int = DEFAULT_SEQ_LEN, dim: int = SINES_DIM, seed: int = 0
) -> np.ndarray:
    """TimeGAN's Sines data (Yoon et al. 2019), float32 ``(n, seq_len, dim)`` in ``[0, 1]``.

    For every sequence and every feature ``k`` on its own, a frequency ``f`` and a phase
    ``phi`` are drawn from ``U(0, 0.1)``; the feature is ``sin(f * t + phi)`` for
    ``t = 0 .. seq_len - 1``, rescaled by ``(x + 1) / 2`` into ``[0, 1]``. This is what
    ``sine_data_generation`` in the paper's ``data_loading.py`` computes; the draws come from
    a local ``np.random.default_rng(seed)`` instead of NumPy's global state, so the numbers
    differ from the reference code's while following the same law.
    """
    if n < 1 or seq_len < 1 or dim < 1:
        raise GanforgeError(
            f"sines needs n, seq_len and dim of at least 1, got {n}, {seq_len}, {dim}"
        )
    rng = np.random.default_rng(seed)
    # All (frequency, phase) pairs in one draw: the reference code's loop over sequences and
    # features is far too slow for 10000 sequences.
    draws = rng.uniform(0.0, 0.1, size=(n, dim, 2))
    freq, phase = draws[..., 0], draws[..., 1]
    t = np.arange(seq_len, dtype=np.float64)
    x = np.sin(freq[:, None, :] * t[None, :, None] + phase[:, None, :])
    return ((x + 1.0) * 0.5).astype(np.float32)


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


def load_sequences(
    data: str | Path | np.ndarray | Tensor,
    *,
    seq_len: int = 0,
    stride: int = 1,
    entity: str = "",
    time: str = "",
    seed: int = 0,
) -> SequenceSet:
    """Reads time series as windows ``(N, T, d)``.

    ``data`` is one of:

    * a built-in name: ``sines`` (drawn from ``seed``) or ``macro`` (statsmodels' US
      quarterly macroeconomic series 1959-2009);
    * an array ``(N, T, d)``, or ``(N, T)`` for one feature, in memory or in a ``.npy`` or
      ``.npz`` file (key ``x``, ``X`` or ``data``; several 1-D or 2-D arrays of one
      dimensionality, such as ``np.savez(path, *sequences)`` writes, are one sequence each;
      else ``arr_0`` or the only array);
    * a long-format ``.csv`` file: one row per time step, an optional ``entity`` column
      (each entity is one series, in the order they first appear; without it the file is
      one series), an optional ``time`` column (rows are sorted by it within each entity;
      numbers or dates; without it the file order counts), and the other columns as
      features.

    Series are cut into sliding windows of ``seq_len`` steps, ``stride`` apart. ``seq_len``
    0 means the data's own length for arrays and 24 otherwise; an array's sequences longer
    than a nonzero ``seq_len`` are cut into windows too. Series of a CSV shorter than
    ``seq_len`` are skipped with a warning.

    Raises:
        GanforgeError: missing file, unknown suffix or name, ragged or non-numeric data,
            NaN or Inf, an unknown or duplicated entity/time, too short series, fewer than
            two windows, ``T < 2`` or ``stride < 1``.
    """
    if stride < 1:
        raise GanforgeError(f"--stride {stride} must be at least 1; fix --stride")
    if seq_len < 0 or seq_len == 1:
        raise GanforgeError(
            f"--seq-len {seq_len} is too short: a sequence needs at least 2 steps "
            "(0 picks the default)"
        )
    if isinstance(data, Tensor):
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray):
        _no_columns(entity, time, "an in-memory array")
        return _from_array(data, "array", seq_len, stride)
    name = str(data)
    if name == "sines":
        _no_columns(entity, time, "sines")
        windows = sines(seq_len=seq_len or DEFAULT_SEQ_LEN, seed=seed)
        features = [f"x{k}" for k in range(windows.shape[2])]
        return SequenceSet(windows, features, "sines", seq_len=windows.shape[1])
    if name == "macro":
        _no_columns(entity, time, "macro")
        series, features = _macro()
        return _windowed([series], features, "macro", seq_len, stride)
    path = Path(name)
    suffix = path.suffix.lower()
    if not suffix and not path.exists() and "/" not in name:
        raise GanforgeError(
            f"unknown sequence data set {name!r}; choose one of: {', '.join(SEQUENCE_BUILTIN)}"
            ", or give a path to a .npy, .npz or .csv file"
        )
    if not path.exists():
        raise GanforgeError(f"data file {path} does not exist; give an existing path")
    if suffix not in SEQUENCE_SUFFIXES:
        raise GanforgeError(
            f"cannot read {path}: expected one of {', '.join(SEQUENCE_SUFFIXES)} for sequences"
        )
    if suffix == ".csv":
        return _from_csv(path, seq_len, stride, entity, time)
    _no_columns(entity, time, f"{path} (a {suffix} file)")
    return _from_array(_read_array_file(path, suffix), str(path), seq_len, stride)


def _no_columns(entity: str, time: str, what: str) -> None:
    if entity or time:
        raise GanforgeError(
            f"--entity and --time name columns of a long-format .csv file; {what} has none: "
            "leave them out"
        )


# ---------------------------------------------------------------- arrays


def _read_array_file(path: Path, suffix: str) -> np.ndarray:
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


def _from_array(x: np.ndarray, name: str, seq_len: int, stride: int) -> SequenceSet:
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
        return _enough(SequenceSet(x.astype(np.float32), features, name, seq_len=x.shape[1]))
    return _windowed(list(x), features, name, seq_len, stride)


# ---------------------------------------------------------------- built-in macro data


def _macro() -> tuple[np.ndarray, list[str]]:
    try:
        from statsmodels.datasets import macrodata
    except ImportError:
        raise GanforgeError(
            "the macro data set comes with statsmodels; pip install statsmodels"
        ) from None
    frame = macrodata.load_pandas().data
    frame = frame.sort_values(["year", "quarter"], kind="stable")
    features = [c for c in frame.columns if c not in ("year", "quarter")]
    return frame[features].to_numpy(dtype=np.float64), features


# ---------------------------------------------------------------- long-format CSV


def _from_csv(path: Path, seq_len: int, stride: int, entity: str, time: str) -> SequenceSet:
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
    found = _windowed(series, features, str(path), seq_len, stride, warn_short=True)
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


# ---------------------------------------------------------------- windows


def _windowed(
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
    return _enough(SequenceSet(windows, list(features), name, seq_len=seq_len, stride=stride))


def _enough(found: SequenceSet) -> SequenceSet:
    n = len(found.windows)
    if n < 2:
        raise GanforgeError(
            f"{found.name} gives only {n} window of {found.seq_len} steps; training needs at "
            "least 2: choose a smaller --seq-len or --stride, or give more data"
        )
    return found


# ---------------------------------------------------------------- batch stream


class SequenceSource(ShuffledStream):
    """Batches of windows ``(B, T, d)``, min-max normalised per feature to ``[0, 1]``.

    The windows are shuffled once per epoch; all randomness comes from ``self.generator``,
    as for :class:`~ganforge.data.PointSource`. The normalisation is TimeGAN's: per feature,
    ``x_norm = (x - shift) / scale`` with ``shift`` the minimum and ``scale`` the range over
    all windows and steps (1 for a constant feature). Data that already lie in ``[0, 1]``
    keep their values (shift 0, scale 1), as TimeGAN keeps its sines.

    Attributes:
        name: the data set's name or path.
        shape: one window's shape ``(T, d)``.
        dim: ``T * d``.
        mixture, labels, classes: always ``None`` (kept for parity with the other sources).
        features: the feature names.
        sequences: the :class:`SequenceSet` served.
        windows: all windows in data units, a float32 tensor ``(N, T, d)``.
        shift, scale: float32 tensors ``(d,)``.
    """

    def __init__(self, sequences: SequenceSet, seed: int = 0) -> None:
        self.name = sequences.name
        self.sequences = sequences
        self.features = list(sequences.features)
        self.windows = torch.as_tensor(np.ascontiguousarray(sequences.windows, np.float32))
        t, d = self.windows.shape[1], self.windows.shape[2]
        self.shape = (t, d)
        self.dim = t * d
        self.mixture = None
        self.labels = None
        self.classes = None
        self.generator = torch.Generator().manual_seed(seed)
        low = self.windows.amin(dim=(0, 1))
        high = self.windows.amax(dim=(0, 1))
        if low.min() >= 0 and high.max() <= 1:
            # data already on [0, 1] (sines by definition) stay as they are, as in TimeGAN,
            # whose scores on such data are then on the data's own scale
            low, high = torch.zeros_like(low), torch.ones_like(high)
        span = high - low
        self.shift = low
        self.scale = torch.where(span > 0, span, torch.ones_like(span))  # constant stays put
        self._start()

    def __len__(self) -> int:
        """Number of windows."""
        return len(self.windows)

    def check_batch_size(self, batch_size: int) -> None:
        """Raises when a batch would not fit in the data."""
        if batch_size < 1:
            raise GanforgeError(f"batch size {batch_size} must be at least 1; fix --batch-size")
        if batch_size > len(self.windows):
            raise GanforgeError(
                f"batch size {batch_size} is larger than the data ({len(self.windows)} "
                "windows); choose a smaller --batch-size"
            )

    def batch(self, batch_size: int) -> Tensor:
        """The next normalised batch ``(batch_size, T, d)``, values in ``[0, 1]``."""
        self.check_batch_size(batch_size)
        x = self.windows[self._next_indices(len(self.windows), batch_size)]
        return (x - self.shift) / self.scale

    def reference(self, n: int, seed: int = 0) -> np.ndarray:
        """``min(n, N)`` distinct real windows in data units (not normalised), drawn from
        ``seed`` without touching the batch stream."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.windows), generator=g)[:n]
        return self.windows[idx].numpy()

    def normalised(self, x: np.ndarray) -> np.ndarray:
        """Windows in data units ``(..., d)`` mapped to this source's ``[0, 1]`` scale."""
        x = np.asarray(x, dtype=np.float32)
        return (x - self.shift.numpy()) / self.scale.numpy()

    def denormalised(self, x: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`normalised`: ``[0, 1]`` values back to data units."""
        x = np.asarray(x, dtype=np.float32)
        return x * self.scale.numpy() + self.shift.numpy()


# ---------------------------------------------------------------- detection and output


def is_sequence_data(data: Any, options: Mapping[str, Any]) -> bool:
    """Whether ``data`` (with the run's ``options``) should be read as sequences.

    True when ``options`` name an ``entity`` or ``time`` column or a nonzero ``seq_len``;
    for the built-in names; for a float array with 3 dimensions in memory or in a ``.npy``
    or ``.npz`` file (read from the file's header, not loaded). Integer arrays, ``uint8``
    pictures above all, 2-D point sets, CSV files without those options and missing paths
    give False.
    """
    if options.get("entity") or options.get("time") or options.get("seq_len"):
        return True
    if isinstance(data, Tensor):
        return data.ndim == 3 and data.is_floating_point()
    if isinstance(data, np.ndarray):
        return data.ndim == 3 and data.dtype.kind == "f"
    if not isinstance(data, (str, Path)):
        return False
    if str(data) in SEQUENCE_BUILTIN:
        return True
    path = Path(data)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz") or not path.is_file():
        return False
    try:
        header = _file_header(path, suffix)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return False
    return header is not None and len(header[0]) == 3 and header[1].kind == "f"


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


def _file_header(path: Path, suffix: str) -> tuple[tuple[int, ...], np.dtype] | None:
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


__all__ = [
    "SEQUENCE_BUILTIN",
    "SequenceSet",
    "SequenceSource",
    "is_sequence_data",
    "load_sequences",
    "sines",
    "write_long_csv",
]
