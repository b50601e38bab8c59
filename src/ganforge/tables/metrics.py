"""Fidelity of a synthetic table to the real one: column shapes, pair trends, range fidelity
and machine-learning efficacy. Each score is in [0, 1] (1 = identical), except the efficacy
ratio. Constant columns are left out: they are passed through and always match.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ganforge.errors import GanforgeError
from ganforge.tables.columns import ColumnSpec, infer_columns
from ganforge.tables.transformer import category_codes, lookup

BINS = 10  # quantile bins of a continuous column paired with a categorical one
MAX_CODES = 255  # most categories per feature of scikit-learn's gradient boosting


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov–Smirnov statistic ``sup |F_a - F_b|`` (NaNs dropped)."""
    a = np.sort(a[~np.isnan(a)])
    b = np.sort(b[~np.isnan(b)])
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else 1.0
    points = np.concatenate([a, b])
    fa = np.searchsorted(a, points, side="right") / len(a)
    fb = np.searchsorted(b, points, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def _labels(col: pd.Series) -> pd.Series:
    """Values as hashable labels, every kind of missing as one label."""
    return col.astype(object).where(col.notna(), "<missing>")


def total_variation(a: pd.Series, b: pd.Series) -> float:
    """``½ Σ |p_a(v) - p_b(v)|`` over the values of two categorical columns."""
    pa = _labels(a).value_counts(normalize=True)
    pb = _labels(b).value_counts(normalize=True)
    pa, pb = pa.align(pb, fill_value=0.0)
    return float(0.5 * np.abs(pa.to_numpy() - pb.to_numpy()).sum())


def _modelled(specs: list[ColumnSpec]) -> list[ColumnSpec]:
    return [s for s in specs if s.kind != "constant"]


def _specs(real: pd.DataFrame, specs: list[ColumnSpec] | None) -> list[ColumnSpec]:
    return specs if specs is not None else infer_columns(real)


def column_shape_scores(
    real: pd.DataFrame, synthetic: pd.DataFrame, specs: list[ColumnSpec] | None = None
) -> dict[Any, float]:
    """Per column: ``1 - KS`` (continuous) or ``1 - TVD`` (categorical)."""
    out = {}
    for s in _modelled(_specs(real, specs)):
        if s.kind == "continuous":
            a = real[s.name].to_numpy(dtype=np.float64, na_value=np.nan)
            b = synthetic[s.name].to_numpy(dtype=np.float64, na_value=np.nan)
            out[s.name] = 1.0 - ks_statistic(a, b)
        else:
            out[s.name] = 1.0 - total_variation(real[s.name], synthetic[s.name])
    return out


def column_shapes(
    real: pd.DataFrame, synthetic: pd.DataFrame, specs: list[ColumnSpec] | None = None
) -> float:
    """The mean of :func:`column_shape_scores`."""
    scores = column_shape_scores(real, synthetic, specs)
    return float(np.mean(list(scores.values()))) if scores else 1.0


def cramers_v(x: np.ndarray, y: np.ndarray) -> float:
    """Cramér's V ``sqrt(χ² / (n · (min(r, c) - 1)))`` of two code arrays (no bias correction);
    0 when either variable takes a single value."""
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    r, c = xi.max() + 1, yi.max() + 1
    if min(r, c) < 2:
        return 0.0
    table = np.zeros((r, c))
    np.add.at(table, (xi, yi), 1.0)
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(r, c) - 1))))


def _codes(col: pd.Series, spec: ColumnSpec, edges: np.ndarray | None) -> np.ndarray:
    """Categories as codes; continuous values as quantile-bin codes (missing: code -1)."""
    if spec.kind == "categorical":
        known = [c for c in spec.categories if c is not None]
        codes = lookup(col, known)
        return np.where(col.isna().to_numpy(), len(known), codes)
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    assert edges is not None
    return np.where(np.isnan(values), -1, np.searchsorted(edges, values, side="right"))


def _pearson(frame: pd.DataFrame, a: Any, b: Any) -> float:
    both = frame[[a, b]].astype(np.float64).dropna()
    if len(both) < 2 or both[a].std() == 0 or both[b].std() == 0:
        return 0.0
    return float(np.corrcoef(both[a], both[b])[0, 1])


def pair_trend_scores(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    specs: list[ColumnSpec] | None = None,
    bins: int = BINS,
) -> dict[tuple[Any, Any], float]:
    """Per pair of columns: ``1 - |ρ_real - ρ_syn| / 2`` for two continuous columns (Pearson
    correlation), else ``1 - |V_real - V_syn|`` (Cramér's V, a continuous column cut into
    ``bins`` quantile bins of its real values)."""
    specs = _modelled(_specs(real, specs))
    edges = {}
    for s in specs:
        if s.kind == "continuous":
            values = real[s.name].to_numpy(dtype=np.float64, na_value=np.nan)
            qs = np.nanquantile(values, np.linspace(0, 1, bins + 1)[1:-1])
            edges[s.name] = np.unique(qs)
    out = {}
    for a, b in combinations(specs, 2):
        if a.kind == b.kind == "continuous":
            rho = _pearson(real, a.name, b.name), _pearson(synthetic, a.name, b.name)
            out[(a.name, b.name)] = 1.0 - abs(rho[0] - rho[1]) / 2
        else:
            v = [
                cramers_v(
                    _codes(t[a.name], a, edges.get(a.name)), _codes(t[b.name], b, edges.get(b.name))
                )
                for t in (real, synthetic)
            ]
            out[(a.name, b.name)] = 1.0 - abs(v[0] - v[1])
    return out


def pair_trends(
    real: pd.DataFrame, synthetic: pd.DataFrame, specs: list[ColumnSpec] | None = None
) -> float:
    """The mean of :func:`pair_trend_scores` (1 for a table of one column)."""
    scores = pair_trend_scores(real, synthetic, specs)
    return float(np.mean(list(scores.values()))) if scores else 1.0


def range_fidelity(
    real: pd.DataFrame, synthetic: pd.DataFrame, specs: list[ColumnSpec] | None = None
) -> float:
    """The share of synthetic values of continuous columns inside the real column's
    ``[min, max]``, averaged over those columns (missing values not counted)."""
    shares = []
    for s in _specs(real, specs):
        if s.kind != "continuous":
            continue
        low, high = s.low, s.high
        if specs is None or low is None or high is None:
            values = real[s.name].to_numpy(dtype=np.float64, na_value=np.nan)
            low, high = np.nanmin(values), np.nanmax(values)
        x = synthetic[s.name].to_numpy(dtype=np.float64, na_value=np.nan)
        x = x[~np.isnan(x)]
        shares.append(float(np.mean((x >= low) & (x <= high))) if len(x) else 1.0)
    return float(np.mean(shares)) if shares else 1.0


def _levels(real: pd.DataFrame, s: ColumnSpec) -> tuple[list[Any], bool]:
    """The categories a gradient-boosting model sees as codes: all of them, or, past
    ``MAX_CODES``, the commonest in ``real`` with one more code shared by the rest."""
    known = [c for c in s.categories if c is not None]
    if len(known) <= MAX_CODES:
        return known, False
    counts = real[s.name].dropna().astype(object).value_counts()
    return list(counts.index[: MAX_CODES - 1]), True


def _features(
    frame: pd.DataFrame, specs: list[ColumnSpec], levels: dict[Any, tuple[list[Any], bool]]
) -> np.ndarray:
    """Numbers for a gradient-boosting model: continuous values as they are, categories as
    codes of the real categories (missing, or unknown: NaN; the rarest of thousands of
    categories: one shared code)."""
    cols = []
    for s in specs:
        if s.kind == "continuous":
            cols.append(frame[s.name].to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            kept, pooled = levels[s.name]
            codes = lookup(frame[s.name], kept).astype(np.float64)
            rest = codes < 0
            if pooled:
                rest &= frame[s.name].isna().to_numpy()
                codes[(codes < 0) & ~rest] = len(kept)
            codes[rest] = np.nan
            cols.append(codes)
    return np.stack(cols, axis=1)


def ml_efficacy(
    real_train: pd.DataFrame,
    real_test: pd.DataFrame,
    synthetic: pd.DataFrame,
    target: Any,
    specs: list[ColumnSpec] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """A histogram gradient-boosting model trained on synthetic rows and tested on held-out
    real rows, against the same model trained on the real training rows.

    The score is accuracy for a categorical target and R² for a continuous one. Returns
    ``{"ml_real", "ml_synthetic", "ml_ratio"}`` (ratio = synthetic / real).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    specs = _modelled(_specs(real_train, specs))
    by_name = {s.name: s for s in specs}
    if target not in by_name:
        raise GanforgeError(
            f"target {target!r} is not a modelled column; choose one of: "
            + ", ".join(map(str, by_name))
        )
    spec = by_name[target]
    inputs = [s for s in specs if s.name != target]
    categorical = [s.kind == "categorical" for s in inputs]
    levels = {s.name: _levels(real_train, s) for s in inputs if s.kind == "categorical"}

    def score(train: pd.DataFrame) -> float:
        test = real_test
        if spec.kind == "continuous":  # rows without a target value cannot be scored
            train, test = train[train[target].notna()], test[test[target].notna()]
        x_train, x_test = _features(train, inputs, levels), _features(test, inputs, levels)
        if spec.kind == "categorical":
            y_train = category_codes(train[target], spec)
            y_test = category_codes(test[target], spec)
            if len(np.unique(y_train)) < 2:  # one class: the only possible prediction
                return float(np.mean(y_test == y_train[0]))
            model = HistGradientBoostingClassifier(
                categorical_features=categorical or None, random_state=seed
            )
        else:
            y_train = train[target].to_numpy(dtype=np.float64)
            y_test = test[target].to_numpy(dtype=np.float64)
            model = HistGradientBoostingRegressor(
                categorical_features=categorical or None, random_state=seed
            )
        return float(model.fit(x_train, y_train).score(x_test, y_test))

    # One OpenMP thread: these models are small, and OpenMP's spinning threads ran these fits
    # hundreds of times slower when another process kept one of two cores busy
    with threadpool_limits(limits=1, user_api="openmp"):
        real_score, synthetic_score = score(real_train), score(synthetic)
    ratio = synthetic_score / real_score if real_score else float("nan")
    return {"ml_real": real_score, "ml_synthetic": synthetic_score, "ml_ratio": ratio}
