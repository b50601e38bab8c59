"""A reversible encoding of a table as a float matrix, and back.

Each continuous column becomes a scalar ``α`` in about ``[-1, 1]`` (the generator's tanh
output) and a one-hot of its mode (mode-specific normalisation, CTGAN section 4.2), plus a
present/missing one-hot when the column has missing values; each categorical column becomes
a one-hot of its categories (missing values being one more category); constant columns are
passed through and take no place in the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError
from ganforge.tables.calibration import MarginalCalibration
from ganforge.tables.columns import ColumnSpec
from ganforge.tables.modes import MAX_MODES, WEIGHT_THRESHOLD, Modes, fit_modes


@dataclass(frozen=True)
class Span:
    """A slice ``[start, start + size)`` of the encoded matrix.

    Attributes:
        start, size: where it lies.
        activation: ``"tanh"`` (one scalar) or ``"softmax"`` (a one-hot group).
        column: the index of its column in the transformer's specs.
        role: ``"value"`` (α), ``"mode"``, ``"missing"`` (present, missing) or ``"category"``.
    """

    start: int
    size: int
    activation: str
    column: int
    role: str

    @property
    def end(self) -> int:
        """One past the last index."""
        return self.start + self.size


class TableTransformer:
    """``fit`` / ``transform`` / ``inverse_transform`` between a DataFrame and floats.

    Args:
        max_modes: most modes per continuous column.
        weight_threshold: modes lighter than this are dropped.
        seed: seed of the mixtures' fits and of the mode draws of :meth:`transform`.
    """

    def __init__(
        self, max_modes: int = MAX_MODES, weight_threshold: float = WEIGHT_THRESHOLD, seed: int = 0
    ) -> None:
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.seed = seed

    def fit(self, df: pd.DataFrame, specs: list[ColumnSpec]) -> TableTransformer:
        """Learns each continuous column's modes; ``specs`` come from ``infer_columns(df)``."""
        _check_frame(df, specs)
        self.specs_ = list(specs)
        self.modes_: dict[int, Modes] = {}
        self.fill_: dict[int, float] = {}
        for i, spec in enumerate(self.specs_):
            if spec.kind == "continuous":
                values = df[spec.name].to_numpy(dtype=np.float64, na_value=np.nan)
                values = values[~np.isnan(values)]
                self.modes_[i] = fit_modes(
                    values, self.max_modes, self.weight_threshold, seed=self.seed + i
                )
                self.fill_[i] = float(values.mean())  # what stands in for a missing value
        self._layout()
        return self

    def _layout(self) -> None:
        spans: list[Span] = []
        pos = 0

        def add(size: int, activation: str, column: int, role: str) -> None:
            nonlocal pos
            spans.append(Span(pos, size, activation, column, role))
            pos += size

        for i, spec in enumerate(self.specs_):
            if spec.kind == "continuous":
                add(1, "tanh", i, "value")
                add(len(self.modes_[i]), "softmax", i, "mode")
                if spec.missing:
                    add(2, "softmax", i, "missing")
            elif spec.kind == "categorical":
                add(len(spec.categories), "softmax", i, "category")
        self.spans_ = spans
        self.dim_ = pos

    @property
    def output_spans(self) -> list[Span]:
        """The slices of the encoded matrix, in order."""
        return self.spans_

    def transform(
        self, df: pd.DataFrame, seed: int | None = None, dtype: type = np.float32
    ) -> np.ndarray:
        """The ``(N, dim_)`` encoding of ``df``. Modes are drawn from their posteriors with
        ``seed`` (default: the transformer's), so the same seed gives the same matrix."""
        _check_frame(df, self.specs_)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        out = np.zeros((len(df), self.dim_), dtype=np.float64)
        rows = np.arange(len(df))
        for span in self.spans_:
            spec = self.specs_[span.column]
            col = df[spec.name]
            if span.role == "value":
                x = col.to_numpy(dtype=np.float64, na_value=np.nan)
                missing = np.isnan(x)
                x = np.where(missing, self.fill_[span.column], x)
                alpha, mode = self.modes_[span.column].encode(x, rng)
                out[:, span.start] = alpha
                out[rows, span.end + mode] = 1.0  # the mode span follows the value
            elif span.role == "missing":
                out[rows, span.start + col.isna().to_numpy().astype(int)] = 1.0
            elif span.role == "category":
                out[rows, span.start + category_codes(col, spec)] = 1.0
        return out.astype(dtype)

    def _read(self, x: np.ndarray) -> dict[int, dict[str, np.ndarray]]:
        """Per column and role: the scalar ``α`` or the index of the largest entry."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim_:
            raise GanforgeError(
                f"expected an encoded table of shape (N, {self.dim_}), got {x.shape}"
            )
        parts: dict[int, dict[str, np.ndarray]] = {}
        for span in self.spans_:
            part = x[:, span.start : span.end]
            parts.setdefault(span.column, {})[span.role] = (
                part[:, 0] if span.activation == "tanh" else part.argmax(axis=1)
            )
        return parts

    def decode_continuous(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """The continuous columns' values as encoded, before any clipping or rounding
        (missing values as NaN), by column index."""
        out = {}
        for i, p in self._read(x).items():
            if self.specs_[i].kind == "continuous":
                values = self.modes_[i].decode(p["value"], p["mode"])
                out[i] = np.where(p["missing"] == 1, np.nan, values) if "missing" in p else values
        return out

    def inverse_transform(
        self, x: np.ndarray, clip: bool = True, calibration: MarginalCalibration | None = None
    ) -> pd.DataFrame:
        """The table that ``x`` encodes, with the original column names, order and dtypes.

        One-hot groups are read by their largest entry. ``calibration`` maps continuous
        values onto the real marginals; ``clip`` keeps them inside the range seen by
        :meth:`fit`; whole-number columns are rounded last.
        """
        n = len(x)
        parts = self._read(x)
        continuous = self.decode_continuous(x)
        data = {}
        for i, spec in enumerate(self.specs_):
            if spec.kind == "continuous":
                values = continuous[i]
                if calibration is not None:
                    values = calibration.apply(i, values)
                if clip:
                    values = np.clip(values, spec.low, spec.high)
                if spec.integer:
                    values = np.round(values)
                data[spec.name] = restore(values, spec)
            elif spec.kind == "categorical":
                cats = np.empty(len(spec.categories), dtype=object)
                cats[:] = spec.categories
                data[spec.name] = restore(cats[parts[i]["category"]], spec)
            else:
                values = np.empty(n, dtype=object)
                values[:] = [spec.value] * n
                data[spec.name] = restore(values, spec)
        return pd.DataFrame(data, columns=[s.name for s in self.specs_])

    def state_dict(self) -> dict[str, Any]:
        """The fitted transformer as JSON-able values (no pickle)."""
        return {
            "max_modes": self.max_modes,
            "weight_threshold": self.weight_threshold,
            "seed": self.seed,
            "specs": [s.to_dict() for s in self.specs_],
            "modes": {str(i): m.to_dict() for i, m in self.modes_.items()},
            "fill": {str(i): v for i, v in self.fill_.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.max_modes = int(state["max_modes"])
        self.weight_threshold = float(state["weight_threshold"])
        self.seed = int(state["seed"])
        self.specs_ = [ColumnSpec.from_dict(d) for d in state["specs"]]
        self.modes_ = {int(i): Modes.from_dict(m) for i, m in state["modes"].items()}
        self.fill_ = {int(i): float(v) for i, v in state["fill"].items()}
        self._layout()


def _check_frame(df: pd.DataFrame, specs: list[ColumnSpec]) -> None:
    names = [s.name for s in specs]
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise GanforgeError(
            f"the table lacks column(s) {', '.join(map(repr, missing))} that the model was "
            "fitted on; give a table with the same columns"
        )


def category_codes(col: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """The index of each value of ``col`` in ``spec.categories``; unknown values are an error."""
    known = [c for c in spec.categories if c is not None]
    codes = lookup(col, known)
    absent = col.isna().to_numpy()
    unknown = (codes < 0) & ~absent
    if unknown.any():
        value = col[unknown].iloc[0]
        raise GanforgeError(
            f"column {spec.name!r} holds {value!r}, a value the model was not fitted on; "
            f"known values: {', '.join(map(repr, known))}"
        )
    if absent.any():
        if None not in spec.categories:
            raise GanforgeError(
                f"column {spec.name!r} has missing values, but had none when the model was "
                "fitted; fill them or refit"
            )
        codes[absent] = spec.categories.index(None)
    return codes


def lookup(col: pd.Series, known: list[Any]) -> np.ndarray:
    """The index of each value of ``col`` in ``known``; -1 where it is missing or unknown."""
    index = pd.Index(known, dtype=object)
    return index.get_indexer(col.astype(object).where(col.notna(), None)).astype(np.int64)


def restore(values: np.ndarray, spec: ColumnSpec) -> pd.Series:
    """A column of values (floats with NaN, or objects with None) in the spec's dtype.

    Integers with missing values become pandas' nullable ``Int64`` (booleans ``boolean``),
    since NumPy's integers cannot hold a missing value.
    """
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    series = pd.Series(values)
    has_missing = bool(series.isna().any())
    try:
        if pd.api.types.is_bool_dtype(dtype):
            return series.astype("boolean" if has_missing else dtype)
        if pd.api.types.is_integer_dtype(dtype):
            nullable = has_missing or isinstance(dtype, pd.api.extensions.ExtensionDtype)
            return series.astype("Int64" if nullable else dtype)
        if pd.api.types.is_float_dtype(dtype):
            return series.astype(dtype)
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series.astype(object)
