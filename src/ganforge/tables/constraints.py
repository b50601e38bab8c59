"""Rules between the columns of a table, kept by construction: a reversible pre-transform.

* ``A <= B`` or ``A < B`` (:class:`Inequality`): in place of ``B`` the model learns, under the
  name ``B``, the gap ``D = B - max(lows of B)``; :meth:`Constraints.inverse` rebuilds
  ``B = max(lows) + max(D, 0)``, so every generated row keeps the rule whatever the model
  outputs. Chains (``A <= B <= C``) and several lows per column work; cycles are refused.
* ``fixed: A, B`` (:class:`Fixed`): the group becomes one categorical column whose values are
  the combinations seen in the data (a JSON list per row), so only those come out.

Missing values: a row's gap uses the lows it has (``nanmax``); the gap is missing where the
high side or every low is missing, and a missing gap gives a missing high side. So a high value
whose lows are all missing is not modelled (it comes back missing). Missing values of a fixed
group are combinations like any other; in object columns they come back as NaN.

```python
rules = Constraints(["start <= end", "fixed: city, country"]).fit(df)
modelled = rules.forward(df)                       # train on this
rows = rules.inverse(generated)                    # the table's columns, rules kept
rows = rules.enforce(rounded, units={"end": 1.0})  # after rounding to whole days
```
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from ganforge.errors import GanforgeError
from ganforge.tables.columns import native

FORMS = "'A <= B', 'A < B', 'A >= B', 'A > B' or 'fixed: A, B' (column names, no quotes)"
_INEQUALITY = re.compile(r"^\s*(.+?)\s*(<=|>=|<|>)\s*(.+?)\s*$", re.DOTALL)
_FIXED = re.compile(r"^\s*fixed\s*:(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Inequality:
    """``low <= high``, or ``low < high`` when ``strict``."""

    low: str
    high: str
    strict: bool = False

    def __post_init__(self) -> None:
        if self.low == self.high:
            raise GanforgeError(f"constraint '{self}' compares a column with itself; name two")

    def __str__(self) -> str:
        return f"{self.low} {'<' if self.strict else '<='} {self.high}"


@dataclass(frozen=True)
class Fixed:
    """Only the combinations of ``columns`` seen in the data may be generated."""

    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        cols = (self.columns,) if isinstance(self.columns, str) else tuple(self.columns)
        object.__setattr__(self, "columns", cols)
        if len(cols) < 2 or len(set(cols)) < len(cols):
            raise GanforgeError(f"constraint '{self}' needs 2 or more columns: 'fixed: A, B'")

    def __str__(self) -> str:
        return "fixed: " + ", ".join(map(str, self.columns))


Constraint = Inequality | Fixed


def parse_constraint(text: str | Constraint) -> Constraint:
    """One constraint from text (``"A <= B"``, ``"A>B"``, ``"fixed: city, country"``)."""
    if isinstance(text, (Inequality, Fixed)):
        return text
    if not isinstance(text, str):
        raise GanforgeError(f"a constraint is text, not {type(text).__name__}; write {FORMS}")
    if m := _FIXED.match(text):
        cols = [c.strip() for c in m.group(1).split(",")]
        if all(cols) and not any(ch in c for c in cols for ch in "<>="):
            return Fixed(tuple(cols))
    elif (m := _INEQUALITY.match(text)) and not any(
        ch in part for part in (m.group(1), m.group(3)) for ch in "<>="
    ):
        a, op, b = m.groups()
        return Inequality(a, b, op == "<") if op[0] == "<" else Inequality(b, a, op == ">")
    raise GanforgeError(f"cannot read the constraint {text!r}; write {FORMS}")


def parse_constraints(items: Iterable[str | Constraint] | None) -> list[Constraint]:
    """Every constraint of ``items`` (a single one is taken as a list of one; None: none)."""
    if items is None:
        return []
    if isinstance(items, (str, Inequality, Fixed)):
        items = [items]
    return [parse_constraint(item) for item in items]


class Constraints:
    """Inequalities and fixed combinations as a reversible transform of a DataFrame.

    :meth:`fit` checks the rules against the training data, :meth:`forward` turns a table into
    the columns to model, :meth:`inverse` turns modelled (generated) rows back into rows that
    keep every rule, :meth:`enforce` repairs inequalities that rounding broke.
    """

    def __init__(self, constraints: Sequence[str | Constraint] | None = None) -> None:
        self.constraints = parse_constraints(constraints)
        self._lows: dict[str, list[tuple[str, bool]]] = {}  # high -> [(low, strict)]
        for c in self.constraints:
            if isinstance(c, Inequality):
                self._lows.setdefault(c.high, []).append((c.low, c.strict))
        self._fixed = [c for c in self.constraints if isinstance(c, Fixed)]
        owner: dict[str, Constraint] = {}
        for c in self.constraints:
            for col in _columns_of(c):
                other = owner.setdefault(col, c)
                if other != c and (isinstance(c, Fixed) or isinstance(other, Fixed)):
                    raise GanforgeError(
                        f"column {col!r} is in both '{other}' and '{c}'; a column of a fixed "
                        "group can be in no other constraint: drop one"
                    )
        self._order = self._topological()
        self._columns: list[Any] | None = None  # set by fit
        self._dtypes: dict[str, str] = {}
        self._units: dict[str, float | None] = {}
        self._names: list[str] = []  # the modelled name of each fixed group
        self._labels: list[list[str]] = []  # the combinations seen, per fixed group

    def _topological(self) -> list[str]:
        """The high sides, each after every high side among its lows; refuses cycles."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1: being visited, 2: done

        def visit(col: str, path: list[str]) -> None:
            if state.get(col) == 1:
                cycle = [*path[path.index(col) :], col]
                shown = [
                    str(Inequality(low, high, strict))
                    for high, low in zip(cycle, cycle[1:], strict=False)
                    for x, strict in self._lows[high]
                    if x == low
                ]
                raise GanforgeError(
                    f"the constraints {', '.join(map(repr, dict.fromkeys(shown)))} form a "
                    "cycle; drop one of them"
                )
            if state.get(col) != 2:
                state[col] = 1
                for low, _ in self._lows.get(col, []):
                    visit(low, [*path, col])
                state[col] = 2
                if col in self._lows:
                    order.append(col)

        for high in self._lows:
            visit(high, [])
        return order

    def fit(self, df: pd.DataFrame) -> Constraints:
        """Checks the rules against ``df`` and learns what :meth:`forward` needs."""
        if not isinstance(df, pd.DataFrame) or df.columns.duplicated().any():
            raise GanforgeError("constraints need a DataFrame whose columns have unique names")
        used = list(dict.fromkeys(col for c in self.constraints for col in _columns_of(c)))
        unknown = [col for col in used if col not in df.columns]
        if unknown:
            raise GanforgeError(
                f"constraints name no column {', '.join(map(repr, unknown))}; the table has: "
                + ", ".join(map(str, df.columns))
            )
        for c in self.constraints:
            if not isinstance(c, Inequality):
                continue
            for col in (c.low, c.high):
                if not is_numeric_dtype(df[col]) or is_bool_dtype(df[col]):
                    raise GanforgeError(
                        f"constraint '{c}': column {col!r} is not numeric ({df[col].dtype}); "
                        "convert it to numbers (dates to days) or drop the constraint"
                    )
            low, high = _floats(df[c.low]), _floats(df[c.high])
            bad = int(np.sum((high <= low) if c.strict else (high < low)))  # NaN: False
            if bad:
                raise GanforgeError(
                    f"constraint '{c}' is broken by {bad} of {len(df)} rows; fix those rows or "
                    "drop the constraint"
                )
        self._columns = list(df.columns)
        self._dtypes = {col: str(df[col].dtype) for col in used}
        self._units = {high: _unit(self._gap(df, high)) for high in self._order}
        taken = {col for col in df.columns if all(col not in f.columns for f in self._fixed)}
        self._names, self._labels = [], []
        for f in self._fixed:
            base = name = " + ".join(map(str, f.columns))
            i = 2
            while name in taken:
                name, i = f"{base} ({i})", i + 1
            taken.add(name)
            self._names.append(name)
            self._labels.append(sorted(set(_encode(df, f.columns))))
        return self

    def forward(self, df: pd.DataFrame) -> pd.DataFrame:
        """The columns to model: each high side becomes its gap, each fixed group one column."""
        self._need(df, self._dtypes)
        out = df.copy()
        for high in self._order:  # every gap from the original values
            out[high] = self._gap(df, high)
        for f, name in zip(self._fixed, self._names, strict=True):
            at = min(out.columns.get_loc(col) for col in f.columns)
            out.insert(at, name, pd.Series(_encode(df, f.columns), index=df.index, dtype=object))
            out = out.drop(columns=list(f.columns))
        return out

    def inverse(self, df: pd.DataFrame) -> pd.DataFrame:
        """Modelled rows back to the table's columns and order, every constraint kept.

        A high side is ``max(lows) + max(D, 0)``; where a strict low is the largest,
        ``max(D, unit)``, ``unit`` the grid of the training gaps (1 for whole numbers, 0.01 for
        two decimals) but no larger than the smallest positive one, so training rows come back
        as they were; the next float up where no gap is positive.
        """
        self._need(df, [*self._order, *self._names])
        out = df.copy()
        for f, name, labels in zip(self._fixed, self._names, self._labels, strict=True):
            codes = df[name].to_numpy(dtype=object)
            index = pd.Index(labels, dtype=object).get_indexer(codes)
            if (index < 0).any():
                raise GanforgeError(
                    f"column {name!r} holds {codes[index < 0][0]!r}, not a combination seen in "
                    "training; pass rows generated by the fitted model"
                )
            values = np.array([json.loads(label) for label in labels] or [[]], dtype=object)
            for j, col in enumerate(f.columns):
                out[col] = _restore_objects(values[index, j], self._dtypes[col], df.index)
            out = out.drop(columns=[name])
        for high in self._order:  # lows that are high sides themselves are rebuilt first
            m, s = self._bounds(out, high)
            gap = _floats(df[high])
            binds = s >= m  # a strict low is the largest: the gap must be positive
            unit = self._units.get(high) or 0.0
            value = m + np.where(binds, np.maximum(gap, unit), np.maximum(gap, 0.0))
            fix = binds & (value <= s)
            value[fix] = np.nextafter(s[fix], np.inf)
            out[high] = _restore_floats(value, self._dtypes[high])
        known = [col for col in self._columns or [] if col in out.columns]
        return out[known + [col for col in out.columns if col not in known]]

    def enforce(self, df: pd.DataFrame, units: Mapping[str, float] | None = None) -> pd.DataFrame:
        """Repairs the inequalities that rounding broke: only rows that break one change.

        Where ``high`` is below its largest low (or not above a strict one), it becomes the
        smallest multiple of ``units[high]`` that keeps the rule (the low itself, or the next
        float up for a strict one, when ``units`` has no entry for it). Rows with a missing
        side are left alone; chains are repaired in order.
        """
        self._need(df, self._order)
        units = dict(units or {})
        for col, u in units.items():
            if not (isinstance(u, (int, float)) and math.isfinite(u) and u > 0):
                raise GanforgeError(f"unit {u!r} of column {col!r}: give a positive number")
        out = df.copy()
        for high in self._order:
            value = _floats(out[high])
            m, s = self._bounds(out, high)
            bad = ~np.isnan(value) & ((value < m) | (value <= s))  # NaN compares False
            if bad.any():
                value[bad] = _lift(m[bad], s[bad], units.get(high))
                out[high] = _restore_floats(value, str(out[high].dtype))
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this object; JSON-able."""
        return {
            "constraints": [
                {"fixed": list(c.columns)}
                if isinstance(c, Fixed)
                else {"low": c.low, "high": c.high, "strict": c.strict}
                for c in self.constraints
            ],
            "columns": self._columns,
            "dtypes": self._dtypes,
            "units": self._units,
            "names": self._names,
            "labels": self._labels,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned."""
        self.__init__(
            [
                Fixed(tuple(c["fixed"])) if "fixed" in c else Inequality(**c)
                for c in state["constraints"]
            ]
        )
        self._columns = state["columns"]
        self._dtypes, self._units = dict(state["dtypes"]), dict(state["units"])
        self._names, self._labels = list(state["names"]), [list(x) for x in state["labels"]]

    @property
    def highs(self) -> list[str]:
        """The columns that are the larger side of an inequality, in the order rebuilt."""
        return list(self._order)

    def members(self, name: Any) -> list[Any]:
        """The table columns that the modelled column ``name`` holds: a fixed group's
        columns for its merged column, else ``[name]``."""
        for f, merged in zip(self._fixed, self._names, strict=True):
            if merged == name:
                return list(f.columns)
        return [name]

    @property
    def derived(self) -> dict[str, str]:
        """Each modelled column that is not a table column as is -> what it holds."""
        out = {}
        for high in self._order:
            lows = list(dict.fromkeys(low for low, _ in self._lows[high]))
            out[high] = f"{high} - " + (lows[0] if len(lows) == 1 else f"max({', '.join(lows)})")
        names = self._names or [" + ".join(map(str, f.columns)) for f in self._fixed]
        out.update({name: str(f) for f, name in zip(self._fixed, names, strict=True)})
        return out

    def _need(self, df: pd.DataFrame, columns: Iterable[str]) -> None:
        if self._columns is None:
            raise GanforgeError("constraints are not fitted; call fit(table) first")
        missing = [col for col in columns if col not in df.columns]
        if missing:
            raise GanforgeError(f"the rows lack column(s) {', '.join(map(repr, missing))}")

    def _gap(self, df: pd.DataFrame, high: str) -> np.ndarray:
        return _floats(df[high]) - self._bounds(df, high)[0]

    def _bounds(self, df: pd.DataFrame, high: str) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the largest present low and the largest present strict low (or NaN)."""
        lows = self._lows[high]
        return _rowmax(df, [x for x, _ in lows]), _rowmax(df, [x for x, s in lows if s])


def _columns_of(c: Constraint) -> tuple[str, ...]:
    return c.columns if isinstance(c, Fixed) else (c.low, c.high)


def _floats(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan).copy()


def _rowmax(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    if not columns:
        return np.full(len(df), np.nan)
    return np.fmax.reduce(np.column_stack([_floats(df[col]) for col in columns]), axis=1)


def _unit(gaps: np.ndarray) -> float | None:
    """The coarsest of 1, 0.1, ..., 1e-6 that every gap is a multiple of, made no larger than
    the smallest positive gap; None if neither exists."""
    positive = gaps[gaps > 0]  # NaN: False
    smallest = float(positive.min()) if len(positive) else None
    x = gaps[np.isfinite(gaps)]
    for k in range(7):
        y = x * 10.0**k
        if np.all(np.abs(y - np.round(y)) <= 1e-9 * np.maximum(1.0, np.abs(y))):
            return min(10.0**-k, smallest or np.inf)
    return smallest


def _lift(m: np.ndarray, s: np.ndarray, unit: float | None) -> np.ndarray:
    """The smallest value on the grid of ``unit`` that is >= m, and > m where s >= m."""
    strict = s >= m
    nearest = np.where(strict, np.nextafter(m, np.inf), m)
    if unit is None:
        return nearest
    per = 1.0 / unit
    whole = round(per) >= 1 and abs(per - round(per)) < 1e-9 * per
    k = np.floor(m * per) - 1.0  # below the answer; step up to it
    for _ in range(8):
        value = k / round(per) if whole else k * unit  # 3 / 10 is 0.3; 3 * 0.1 is not
        short = (value < m) | (strict & (value <= m))
        if not short.any():
            return value
        k += short
    return np.where(short, nearest, value)  # magnitudes beyond the grid's precision


def _encode(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Per row, the JSON list of the values of ``columns`` (missing: null)."""
    key = np.zeros(len(df), dtype=np.int64)
    for col in columns:
        codes, uniques = pd.factorize(df[col], use_na_sentinel=False)
        key = pd.factorize(key * len(uniques) + codes)[0]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    labels = [
        json.dumps([native(df[col].iloc[row]) for col in columns], ensure_ascii=False)
        for row in first
    ]
    return np.array(labels, dtype=object)[inverse.reshape(-1)]


def _restore_objects(values: np.ndarray, dtype: str, index: pd.Index) -> pd.Series:
    """Values (None for missing) as a column of ``dtype``; object columns get NaN for None."""
    col = pd.Series(values, index=index, dtype=object)
    if dtype == "object":
        return col.where(col.notna(), np.nan)
    try:
        return col.astype(pd.api.types.pandas_dtype(dtype))
    except (TypeError, ValueError):
        return col


def _restore_floats(value: np.ndarray, dtype: str) -> Any:
    """Floats in ``dtype`` where that loses nothing: whole numbers in integer columns."""
    target = pd.api.types.pandas_dtype(dtype)
    if pd.api.types.is_float_dtype(target):
        return value.astype(target) if isinstance(target, np.dtype) else pd.array(value, target)
    present = value[~np.isnan(value)]
    if pd.api.types.is_integer_dtype(target) and np.all(present == np.round(present)):
        if not isinstance(target, np.dtype):
            return pd.array(value, dtype=target)  # nullable: NaN -> <NA>
        if len(present) == len(value):
            return value.astype(target)
    return value
