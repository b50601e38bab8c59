"""High-cardinality text, pooled: a column of thousands of names is never one-hot encoded.

The ``TOP_LEVELS`` commonest values (each on at least ``MIN_COUNT`` rows) stay categories
that the model learns; every other value becomes one pooled category. A generated row in
the pooled category gets a real pooled value, chosen among the ``NEIGHBOURS`` real rows whose
other modelled columns are nearest to the generated row's (numbers standardised, categories
one-hot), so that the value fits the rest of its row: a city fits its coordinates, a car's
name its year and cylinders. With no other column to condition on, pooled values are drawn by
their frequencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ganforge.tables.columns import native

TOP_LEVELS = 50  # values of a pooled column kept as categories
MIN_COUNT = 2  # ... each of them on at least this many rows
NEIGHBOURS = 5  # nearest real rows among which a pooled value is chosen
MAX_LEVELS = 50  # one-hot levels of a context column (the commonest; others all zeros)
SENTINEL = "<other>"  # the pooled category (lengthened until no real value equals it)


class Pool:
    """The pooling of one column: :meth:`fit`, :meth:`pool`, :meth:`unpool`."""

    def fit(self, col: pd.Series, context: pd.DataFrame) -> Pool:
        """Learns the kept values from ``col`` and, for the rows with a pooled value, their
        ``context`` (the other modelled columns of the same rows)."""
        counts = col.dropna().astype(object).value_counts(sort=True)
        self.kept_ = [native(v) for v, c in counts.iloc[:TOP_LEVELS].items() if c >= MIN_COUNT]
        self.sentinel_ = SENTINEL
        while self.sentinel_ in counts.index:
            self.sentinel_ += "_"
        rare = (col.notna() & ~col.astype(object).isin(self.kept_)).to_numpy()
        self.values_ = [native(v) for v in col[rare]]
        self.context_: list[dict[str, Any]] = []
        for name in context.columns:
            c = context[name]
            if pd.api.types.is_numeric_dtype(c) and not pd.api.types.is_bool_dtype(c):
                x = c.to_numpy(dtype=np.float64, na_value=np.nan)
                mean, std = float(np.nanmean(x)), float(np.nanstd(x))
                self.context_.append({"name": name, "mean": mean, "std": std or 1.0})
            else:
                top = c.dropna().astype(object).value_counts().index[:MAX_LEVELS]
                self.context_.append({"name": name, "levels": [native(v) for v in top]})
        self.rows_ = self._features(context[rare]).round(4).tolist() if self.context_ else []
        return self

    def _features(self, context: pd.DataFrame) -> np.ndarray:
        parts = []
        for c in self.context_:
            col = context[c["name"]]
            if "levels" in c:
                codes = pd.Index(c["levels"], dtype=object).get_indexer(col.astype(object))
                parts.append(np.eye(len(c["levels"]) + 1)[codes][:, :-1])  # unseen: all 0
            else:
                x = (col.to_numpy(dtype=np.float64, na_value=np.nan) - c["mean"]) / c["std"]
                parts.append(np.nan_to_num(x, nan=0.0)[:, None])
                parts.append(np.isnan(x)[:, None].astype(np.float64))
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(context), 0))

    def pool(self, col: pd.Series) -> pd.Series:
        """``col`` with every value that is not kept (and not missing) pooled."""
        values = col.astype(object)
        rare = values.notna() & ~values.isin(self.kept_)
        return values.where(~rare, self.sentinel_)

    def unpool(self, col: pd.Series, context: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
        """``col`` with each pooled entry replaced by a real pooled value: one of the
        ``NEIGHBOURS`` real rows nearest in ``context``, or by frequency without context."""
        values = col.astype(object).copy()
        rare = (values == self.sentinel_).to_numpy()
        m = int(rare.sum())
        if m == 0 or not self.values_:
            return values
        pooled = np.asarray(self.values_, dtype=object)
        if not self.rows_:
            values[rare] = pooled[rng.integers(len(pooled), size=m)]
            return values
        from sklearn.neighbors import NearestNeighbors

        real = np.asarray(self.rows_, dtype=np.float64)
        k = min(NEIGHBOURS, len(real))
        search = NearestNeighbors(n_neighbors=k).fit(real)
        _, nearest = search.kneighbors(self._features(context[rare]))
        pick = nearest[np.arange(m), rng.integers(k, size=m)]
        values[rare] = pooled[pick]
        return values

    def state_dict(self) -> dict[str, Any]:
        """The pooling as JSON-able values."""
        return {k: v for k, v in vars(self).items() if k.endswith("_")}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Pool:
        """Inverse of :meth:`state_dict`."""
        pool = cls()
        for k, v in state.items():
            setattr(pool, k, v)
        return pool
