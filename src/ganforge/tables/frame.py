"""A table as people have it, as the model sees it, and back.

:class:`TableFrame` sits before the transformer (:mod:`.transformer`). Going in
(:meth:`~TableFrame.forward`):

- **keys** (a unique id per row) are left out;
- **dates and times** become float days since 1970-01-01;
- **constraints** (:mod:`.constraints`) rewrite the columns they bind;
- **high-cardinality text** keeps its commonest values as categories and pools the rest
  into one category (:mod:`.pooling`).

Coming back (:meth:`~TableFrame.inverse`), the pooled category is replaced by a real pooled
value that fits the rest of the row; constraints are undone; numbers are
rounded to their column's decimal places, dates to whole days (or seconds); constraints are
enforced once more on the rounded values; dates are written in their column's format and
each row gets a new unique key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError
from ganforge.tables import datetimes as dt
from ganforge.tables.constraints import Constraints, parse_constraints
from ganforge.tables.keys import KeyForm, id_like
from ganforge.tables.pooling import Pool

KINDS = ("discrete", "continuous", "datetime", "key", "text")
MAX_CATEGORIES = 50  # text columns with more distinct values are pooled (unless --discrete)


def decimals(col: pd.Series) -> int | None:
    """The most decimal places of a float column's values as written (their shortest
    ``repr``): 0 for whole numbers; None when a value needs more than 15."""
    values = col.dropna().to_numpy(dtype=np.float64)
    if values.size == 0:
        return None
    places = 0
    for v in np.unique(values):
        text = repr(float(v))
        if "e" in text or "inf" in text:
            return None
        places = max(places, len(text.partition(".")[2].rstrip("0")))
    return places if places <= 15 else None


class TableFrame:
    """Column kinds beyond numbers and categories, and the constraints between columns.

    Args:
        kinds: columns forced to a kind, ``{"datetime": [...], "key": [...], "text": [...],
            "discrete": [...], "continuous": [...]}`` (flags of the command line).
        constraints: ``"A <= B"``, ``"fixed: A, B"``, ... (see :mod:`.constraints`).
        metadata: column kinds read from an SDV metadata file (:mod:`.metadata`),
            ``{column: (kind, datetime format or None)}``; ``kinds`` win over it.
    """

    def __init__(
        self,
        kinds: Mapping[str, Sequence[str]] | None = None,
        constraints: Sequence[Any] | None = None,
        metadata: Mapping[str, tuple[str, str | None]] | None = None,
    ) -> None:
        self.kinds = {k: list((kinds or {}).get(k) or []) for k in KINDS}
        self.constraints = [str(c) for c in parse_constraints(constraints)]
        self.metadata = dict(metadata or {})

    # -- learning the columns ------------------------------------------------------------

    def _given(self, df: pd.DataFrame) -> dict[Any, str]:
        """Each column's kind as given by the flags or the metadata file."""
        given: dict[Any, str] = {}
        unknown = [n for n in self.metadata if n not in df.columns]
        if unknown:
            raise GanforgeError(
                f"the metadata names column(s) {', '.join(map(repr, unknown))} that the table "
                f"lacks; the table has: {', '.join(map(str, df.columns))}"
            )
        given.update({n: kind for n, (kind, _) in self.metadata.items() if kind != "auto"})
        flagged: dict[Any, str] = {}
        for kind, names in self.kinds.items():
            for name in names:
                if name not in df.columns:
                    raise GanforgeError(
                        f"--{kind}: no column named {name!r}; the table has: "
                        + ", ".join(map(str, df.columns))
                    )
                if name in flagged:
                    raise GanforgeError(
                        f"column {name!r} is given as both {flagged[name]} and {kind}; choose one"
                    )
                flagged[name] = kind
        return {**given, **flagged}

    def fit(self, df: pd.DataFrame) -> TableFrame:
        """Learns every column's kind, form and decimals, and the constraints; returns
        ``self``. Bad columns and broken constraints are one-line errors."""
        if not isinstance(df, pd.DataFrame):
            raise GanforgeError(f"expected a pandas DataFrame, got {type(df).__name__}")
        empty = [n for n in df.columns if df[n].isna().all()]
        if empty and len(df):
            raise GanforgeError(
                f"column {empty[0]!r} has no values (every cell is missing); drop it from the table"
            )
        given = self._given(df)
        self.columns_ = list(df.columns)
        self.dtypes_ = {n: str(df[n].dtype) for n in df.columns}
        self.formats_: dict[Any, str] = {}
        self.grids_: dict[Any, float] = {}
        self.keys_: dict[Any, KeyForm] = {}
        self.text_: list[Any] = []
        for name in df.columns:
            col, kind = df[name], given.get(name)
            if kind == "datetime" or (kind is None and dt.detect_format(col) is not None):
                self._fit_datetime(col, name)
            elif kind == "key" or (kind is None and id_like(name, col)):
                self.keys_[name] = KeyForm().fit(col, name)
            elif kind == "text" or (
                kind is None and dt.is_text(col) and col.nunique() > MAX_CATEGORIES
            ):
                self.text_.append(name)
        self.decimals_ = {
            n: d
            for n in df.columns
            if n not in self.formats_ and pd.api.types.is_float_dtype(df[n])
            if (d := decimals(df[n])) is not None
        }
        view = self.view(df)
        self.constraints_ = Constraints(self.constraints).fit(view) if self.constraints else None
        highs = self.constraints_.highs if self.constraints_ else []
        self.ranges_ = {n: [float(view[n].min()), float(view[n].max())] for n in highs}
        modelled = self.constraints_.forward(view) if self.constraints_ else view
        forced = {n for n, k in given.items() if k in ("discrete", "continuous")}
        pooled = [n for n in modelled.columns if n not in forced and self._pooled(n, modelled[n])]
        context = modelled.drop(columns=pooled)
        self.pools_ = {n: Pool().fit(modelled[n], context) for n in pooled}
        self.discrete_ = [n for n in modelled.columns if given.get(n) == "discrete"]
        self.discrete_ += list(self.pools_)
        self.continuous_ = [n for n in modelled.columns if given.get(n) == "continuous"]
        self.continuous_ += [n for n in self.formats_ if n in modelled.columns]
        return self

    def _fit_datetime(self, col: pd.Series, name: Any) -> None:
        fmt = self.metadata.get(name, (None, None))[1] or dt.detect_format(col)
        if fmt is None:
            bad = next(
                (v for v in col.dropna().astype(str) if dt.detect_format(pd.Series([v])) is None),
                col.dropna().iloc[0] if col.notna().any() else None,
            )
            raise GanforgeError(
                f"column {name!r} under --datetime: {bad!r} is not a date in a known format "
                "(such as 2024-03-01, 03/01/2024, 01.03.2024 or 2024-03-01 12:30:00); fix the "
                "values, or leave the column out of --datetime"
            )
        days = dt.to_days(col, fmt, name)
        self.formats_[name] = fmt
        self.grids_[name] = dt.unit(fmt, days)

    def _pooled(self, name: Any, col: pd.Series) -> bool:
        """Whether a modelled column is high-cardinality text: given as text, a fixed
        combination of a text column, or text with more than ``MAX_CATEGORIES`` values."""
        members = self.constraints_.members(name) if self.constraints_ else [name]
        if any(m in self.text_ for m in members):
            return True
        return dt.is_text(col) and col.nunique() > MAX_CATEGORIES

    # -- the way in and out --------------------------------------------------------------

    def view(self, df: pd.DataFrame) -> pd.DataFrame:
        """The table without its keys and with dates as float days (the columns that
        metrics compare)."""
        out = df.drop(columns=list(self.keys_)).copy()
        for name, fmt in self.formats_.items():
            out[name] = dt.to_days(df[name], fmt, name)
        return out

    def forward(self, df: pd.DataFrame) -> pd.DataFrame:
        """The table as the model learns it: :meth:`view`, constraints applied, rare text
        values pooled."""
        missing = [n for n in self.columns_ if n not in df.columns]
        if missing:
            raise GanforgeError(
                f"the table lacks column(s) {', '.join(map(repr, missing))} that the model "
                "was fitted on; give a table with the same columns"
            )
        out = self.view(df[self.columns_])
        if self.constraints_ is not None:
            out = self.constraints_.forward(out)
        for name, pool in self.pools_.items():
            out[name] = pool.pool(out[name])
        return out

    def inverse(self, modelled: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
        """The table that generated ``modelled`` rows stand for, in the user's columns,
        formats and dtypes; ``seed`` drives the pooled values and the keys."""
        rng = np.random.default_rng(seed)
        out = modelled.copy()
        context = out.drop(columns=list(self.pools_))
        for name, pool in self.pools_.items():
            out[name] = pool.unpool(out[name], context, rng)
        if self.constraints_ is not None:
            out = self.constraints_.inverse(out)
        for name, (low, high) in self.ranges_.items():  # a rebuilt larger side stays in range:
            out[name] = out[name].clip(low, high)  # it was >= its lows, and so are both bounds
        units = {}
        for name, places in self.decimals_.items():
            out[name] = np.round(out[name].astype(np.float64), places)
            units[name] = 10.0**-places
        for name, grid in self.grids_.items():
            out[name] = np.round(out[name].astype(np.float64) / grid) * grid
            units[name] = grid
        for name in out.columns:
            if pd.api.types.is_integer_dtype(self.dtypes_.get(name, "object")):
                units[name] = 1.0
        if self.constraints_ is not None:
            out = self.constraints_.enforce(out, units)
        for name in out.columns:
            out[name] = self._restore(out[name], name)
        for name, fmt in self.formats_.items():
            out[name] = dt.from_days(out[name].to_numpy(dtype=np.float64), fmt, self.grids_[name])
        for name, form in self.keys_.items():
            out[name] = form.generate(len(out), rng).to_numpy()
        return out[self.columns_]

    def _restore(self, col: pd.Series, name: Any) -> pd.Series:
        """Whole-number columns back to integers (nullable when values are missing)."""
        dtype = self.dtypes_.get(name)
        if dtype is None or not pd.api.types.is_integer_dtype(dtype):
            return col
        if pd.api.types.is_integer_dtype(col.dtype):
            return col
        values = pd.to_numeric(col, errors="coerce").round()
        return values.astype("Int64" if values.isna().any() else dtype)

    # -- state ---------------------------------------------------------------------------

    def kind(self, name: Any) -> str | None:
        """``"datetime"``, ``"key"`` or ``"text"`` for such a column, else None."""
        if name in self.formats_:
            return "datetime"
        if name in self.keys_:
            return "key"
        return "text" if name in self.text_ else None

    def state_dict(self) -> dict[str, Any]:
        """Everything learnt, as JSON-able values."""
        return {
            "constraints": self.constraints,
            "columns": self.columns_,
            "dtypes": _pairs(self.dtypes_),
            "formats": _pairs(self.formats_),
            "grids": _pairs(self.grids_),
            "keys": _pairs({n: f.state_dict() for n, f in self.keys_.items()}),
            "text": self.text_,
            "decimals": _pairs(self.decimals_),
            "ranges": _pairs(self.ranges_),
            "pools": _pairs({n: p.state_dict() for n, p in self.pools_.items()}),
            "discrete": self.discrete_,
            "continuous": self.continuous_,
            "constraint_state": self.constraints_.state_dict() if self.constraints_ else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableFrame:
        """Inverse of :meth:`state_dict`."""
        frame = cls(constraints=state["constraints"])
        frame.columns_, frame.dtypes_ = list(state["columns"]), _dict(state["dtypes"])
        frame.formats_, frame.grids_ = _dict(state["formats"]), _dict(state["grids"])
        frame.keys_ = {n: KeyForm.from_state(s) for n, s in state["keys"]}
        frame.text_, frame.decimals_ = list(state["text"]), _dict(state["decimals"])
        frame.pools_ = {n: Pool.from_state(p) for n, p in state["pools"]}
        frame.ranges_ = _dict(state["ranges"])
        frame.discrete_, frame.continuous_ = list(state["discrete"]), list(state["continuous"])
        frame.constraints_ = None
        if state.get("constraint_state") is not None:
            frame.constraints_ = Constraints(frame.constraints)
            frame.constraints_.load_state_dict(state["constraint_state"])
        return frame


def _pairs(d: Mapping[Any, Any]) -> list[list[Any]]:
    """A dict as ``[name, value]`` pairs: JSON keeps integer column names so."""
    return [[k, v] for k, v in d.items()]


def _dict(pairs: list[list[Any]]) -> dict[Any, Any]:
    return {k: v for k, v in pairs}
