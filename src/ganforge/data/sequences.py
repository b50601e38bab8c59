"""Time series as fixed-length windows ``(N, T, d)``: built-in sets, users' arrays and
long-format CSV files, served as a seeded batch stream normalised to ``[0, 1]``."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.data.sequence_files import (
    file_header,
    from_array,
    from_csv,
    read_array_file,
    write_long_csv,
)
from ganforge.data.sequence_set import DEFAULT_SEQ_LEN, SequenceSet, windowed
from ganforge.data.stream import ShuffledStream
from ganforge.errors import GanforgeError

SEQUENCE_BUILTIN = ("sines", "macro")
SEQUENCE_SUFFIXES = (".npy", ".npz", ".csv")
SINES_N = 10000
SINES_DIM = 5


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
        return from_array(data, "array", seq_len, stride)
    name = str(data)
    if name == "sines":
        _no_columns(entity, time, "sines")
        windows = sines(seq_len=seq_len or DEFAULT_SEQ_LEN, seed=seed)
        features = [f"x{k}" for k in range(windows.shape[2])]
        return SequenceSet(windows, features, "sines", seq_len=windows.shape[1])
    if name == "macro":
        _no_columns(entity, time, "macro")
        series, features = _macro()
        return windowed([series], features, "macro", seq_len, stride)
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
        return from_csv(path, seq_len, stride, entity, time)
    _no_columns(entity, time, f"{path} (a {suffix} file)")
    return from_array(read_array_file(path, suffix), str(path), seq_len, stride)


def _no_columns(entity: str, time: str, what: str) -> None:
    if entity or time:
        raise GanforgeError(
            f"--entity and --time name columns of a long-format .csv file; {what} has none: "
            "leave them out"
        )


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


# ---------------------------------------------------------------- detection


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
        header = file_header(path, suffix)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return False
    return header is not None and len(header[0]) == 3 and header[1].kind == "f"


__all__ = [
    "SEQUENCE_BUILTIN",
    "SequenceSet",
    "SequenceSource",
    "is_sequence_data",
    "load_sequences",
    "sines",
    "write_long_csv",
]
