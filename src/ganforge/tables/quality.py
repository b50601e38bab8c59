"""The SDMetrics single-table Quality Report score, without depending on sdmetrics.

Follows the definitions of ``sdmetrics.reports.single_table.QualityReport`` (SDMetrics 0.32):

* Column Shapes: ``1 - KS`` (KSComplement) for numerical and datetime columns, ``1 - TVD``
  (TVComplement) for categorical, ordinal and boolean ones. Missing values are dropped first.
  A value seen only in the synthetic column gets a pseudo-count of 1e-6 in the real counts.
* Column Pair Trends: for two continuous columns ``1 - |r_real - r_synth| / 2`` with Pearson's r
  on the rows where both are present (CorrelationSimilarity); otherwise ``1 - TVD`` of the joint
  frequencies, missing values counted as a category of their own (ContingencySimilarity). A
  continuous column paired with a discrete one is cut into 10 equal-width bins whose edges come
  from that same table's values (real and synthetic are binned separately); ``np.digitize`` puts
  the top value and the missing values together, past the last edge.
  A pair counts only when the real data shows a trend: ``|r_real| > 0.5`` or Cramér's V of the
  real contingency table ``> 0.3``; other pairs score NaN.
* Datetimes are parsed with the column's ``datetime_format`` unless already datetimes, then
  compared as nanoseconds since the epoch; a column that cannot be converted scores NaN, and
  so do its pairs. Other sdtypes (id, text, unknown, PII types such as email) are not scored;
  the primary key is left out only through its sdtype.
* A property is the mean of its non-NaN scores; the score is the mean of the non-NaN properties.

Not reproduced: SDMetrics scores contingency pairs on a random 50,000-row subsample of tables
longer than that; here every row is used.
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

from ganforge.errors import GanforgeError

CONTINUOUS = ("numerical", "datetime")
DISCRETE = ("categorical", "ordinal", "boolean")
REAL_CORRELATION_THRESHOLD = 0.5  # SDMetrics' default for Column Pair Trends
REAL_ASSOCIATION_THRESHOLD = 0.3
NOVEL_PSEUDOCOUNT = 1e-6  # real count given to a category only the synthetic column has
BINS = 10  # equal-width bins of a continuous column paired with a discrete one
DECIMALS = 14  # floats are rounded to this many decimals before the KS statistic


def table_columns(metadata: dict) -> dict[str, dict]:
    """The ``columns`` of a single-table SDV metadata dict, or of the one table of a V2 dict."""
    if "tables" in metadata:
        tables = metadata["tables"]
        if len(tables) != 1:
            raise GanforgeError(f"metadata must hold exactly one table, found {len(tables)}")
        metadata = next(iter(tables.values()))
    columns = metadata.get("columns")
    if not isinstance(columns, dict):
        raise GanforgeError("metadata has no 'columns' mapping; give SDV single-table metadata")
    return columns


def ks_complement(real: Any, synthetic: Any) -> float:
    """``1 - sup |F_real - F_synth|`` of two numeric or naive-datetime samples, missing values
    dropped and floats rounded to ``DECIMALS`` decimals; NaN if either sample is empty.
    """
    a, b = (_sample(x) for x in (real, synthetic))
    if len(a) == 0 or len(b) == 0:
        return math.nan
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, "right") / len(a)
    cdf_b = np.searchsorted(b, points, "right") / len(b)
    return float(1.0 - np.abs(cdf_a - cdf_b).max())


def _sample(x: Any) -> np.ndarray:
    """Sorted present values: datetimes as int64 nanoseconds, integers as they are, anything
    else as floats rounded to ``DECIMALS``.
    """
    x = np.asarray(x)
    x = x[~pd.isna(x)]
    if x.dtype.kind == "M":
        x = x.astype("datetime64[ns]").view("int64")
    elif x.dtype.kind not in "iu":
        x = x.astype(float).round(DECIMALS)
    return np.sort(x)


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """``1 - ½ Σ_v |p_synth(v) - p_real(v)|`` over the present values of two discrete columns.

    A value only the synthetic column holds is given a real count of ``NOVEL_PSEUDOCOUNT``.
    NaN if either column has no values.
    """
    real, synthetic = pd.Series(real).dropna(), pd.Series(synthetic).dropna()
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan
    codes, _ = pd.factorize(pd.concat([real, synthetic], ignore_index=True))
    n = codes.max() + 1
    r = np.bincount(codes[: len(real)], minlength=n).astype(float)
    s = np.bincount(codes[len(real) :], minlength=n).astype(float)
    r[(r == 0) & (s > 0)] = NOVEL_PSEUDOCOUNT
    return float(1.0 - 0.5 * np.abs(s / s.sum() - r / r.sum()).sum())


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    both = ~(np.isnan(x) | np.isnan(y))
    if both.sum() < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: r is NaN
        return float(pearsonr(x[both], y[both]).statistic)


def correlation_similarity(
    real: tuple[Any, Any], synthetic: tuple[Any, Any], threshold: float = 0.0
) -> float:
    """``1 - |r_real - r_synth| / 2`` with Pearson's r over the rows where both columns are
    present. NaN when a column is constant in either table, when ``|r_real| <= threshold``, or
    when a correlation is undefined.
    """
    xr, yr, xs, ys = (np.asarray(v, dtype=float) for v in (*real, *synthetic))
    if any(len(np.unique(v[~np.isnan(v)])) == 1 for v in (xr, yr, xs, ys)):
        return math.nan
    r_real = _pearson(xr, yr)
    if abs(r_real) <= threshold:
        return math.nan
    r_synth = _pearson(xs, ys)
    return 1.0 - abs(r_real - r_synth) / 2.0  # NaN propagates


def contingency_similarity(
    real: tuple[Any, Any], synthetic: tuple[Any, Any], threshold: float = 0.0
) -> float:
    """``1 - ½ Σ |p_real(a, b) - p_synth(a, b)|`` over the joint frequencies of two discrete
    columns, a missing value being a category of its own. With ``threshold > 0``, NaN unless
    Cramér's V of the real contingency table exceeds it.
    """
    n_real, n_synth = len(real[0]), len(synthetic[0])
    if n_real == 0 or n_synth == 0:
        return math.nan
    a, b = (
        pd.factorize(
            pd.concat([pd.Series(r), pd.Series(s)], ignore_index=True), use_na_sentinel=False
        )[0]
        for r, s in zip(real, synthetic, strict=True)
    )
    if threshold > 0 and not _cramers_v(a[:n_real], b[:n_real]) > threshold:
        return math.nan
    cell = np.unique(a.astype(np.int64) * (b.max() + 1) + b, return_inverse=True)[1]
    p_real = np.bincount(cell[:n_real], minlength=cell.max() + 1) / n_real
    p_synth = np.bincount(cell[n_real:], minlength=cell.max() + 1) / n_synth
    return float(1.0 - 0.5 * np.abs(p_real - p_synth).sum())


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two code arrays, ``sqrt(chi² / (n (min(rows, cols) - 1)))`` without
    continuity correction; NaN for a table with fewer than two rows or columns.
    """
    a, b = (np.unique(x, return_inverse=True)[1] for x in (a, b))
    rows, cols = a.max() + 1, b.max() + 1
    if min(rows, cols) < 2:
        return math.nan
    cells, observed = np.unique(a.astype(np.int64) * cols + b, return_counts=True)
    margins = np.bincount(a)[cells // cols] * np.bincount(b)[cells % cols]
    chi2_over_n = (observed.astype(float) ** 2 / margins).sum() - 1.0
    return math.sqrt(max(chi2_over_n, 0.0) / (min(rows, cols) - 1))


def _continuous(col: pd.Series, meta: dict) -> pd.Series | None:
    """A continuous column as floats, or as naive nanosecond datetimes (parsed with the
    column's ``datetime_format`` unless already datetimes); None if it cannot be converted.
    """
    if meta["sdtype"] != "datetime":
        try:
            return pd.to_numeric(col).astype("float64")
        except (ValueError, TypeError):
            return None
    if not pd.api.types.is_datetime64_any_dtype(col):
        if meta.get("datetime_format") is None:
            return None
        try:
            col = pd.to_datetime(col, format=meta["datetime_format"])
        except (ValueError, TypeError):
            return None
    if col.dt.tz is not None:
        col = col.dt.tz_convert(None)
    return col.dt.as_unit("ns")


def _floats(col: pd.Series) -> np.ndarray:
    """Floats with NaN where missing; datetimes as nanoseconds since the epoch."""
    if pd.api.types.is_datetime64_any_dtype(col):
        ns = col.to_numpy("datetime64[ns]").view("int64").astype(float)
        return np.where(col.isna().to_numpy(), np.nan, ns)
    return col.to_numpy(dtype=float, na_value=np.nan)


def _bins(x: np.ndarray) -> np.ndarray | None:
    """Bin numbers of a continuous column over ``BINS`` equal-width bins spanning its own
    values; ``np.digitize`` puts the maximum and NaN after the last edge.
    """
    try:
        edges = np.histogram_bin_edges(x[~np.isnan(x)], bins=BINS)
    except ValueError:  # infinite values
        return None
    return np.digitize(x, edges)


def quality_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    metadata: dict,
    *,
    real_correlation_threshold: float = REAL_CORRELATION_THRESHOLD,
    real_association_threshold: float = REAL_ASSOCIATION_THRESHOLD,
) -> dict[str, Any]:
    """SDMetrics' single-table quality score of ``synthetic`` against ``real``.

    ``metadata`` is an SDV metadata dict (single-table layout or a V2 dict with one table).
    Returns ``{"score", "column_shapes", "column_pair_trends", "shapes": {column: score},
    "pairs": {(column_a, column_b): score}}`` over the scored sdtypes. A pair without a trend in
    the real data (see the thresholds; set both to 0 to score every pair) scores NaN; NaN scores
    are left out of the averages.
    """
    columns = {
        name: meta
        for name, meta in table_columns(metadata).items()
        if meta.get("sdtype") in CONTINUOUS + DISCRETE
    }
    missing = [c for c in columns if c not in real.columns or c not in synthetic.columns]
    if missing:
        raise GanforgeError(
            f"columns in the metadata but not in the data: {missing}; give both tables"
        )

    numbers: dict[str, tuple | None] = {}  # continuous columns as floats
    discrete: dict[str, tuple | None] = {}  # every column as categories: continuous ones binned
    shapes = {}
    for name, meta in columns.items():
        if meta["sdtype"] in DISCRETE:
            discrete[name] = real[name], synthetic[name]
            shapes[name] = tv_complement(*discrete[name])
            continue
        conv = _continuous(real[name], meta), _continuous(synthetic[name], meta)
        ok = conv[0] is not None and conv[1] is not None
        numbers[name] = (_floats(conv[0]), _floats(conv[1])) if ok else None
        shapes[name] = ks_complement(*conv) if ok else math.nan
        bins = (_bins(numbers[name][0]), _bins(numbers[name][1])) if ok else (None, None)
        discrete[name] = None if bins[0] is None or bins[1] is None else bins

    pairs = {}
    for a, b in combinations(columns, 2):
        if a in numbers and b in numbers:
            use, metric, limit = numbers, correlation_similarity, real_correlation_threshold
        else:
            use, metric, limit = discrete, contingency_similarity, real_association_threshold
        if use[a] is None or use[b] is None:
            pairs[a, b] = math.nan
        else:
            pairs[a, b] = metric((use[a][0], use[b][0]), (use[a][1], use[b][1]), limit)

    def mean(scores: Any) -> float:
        kept = [s for s in scores if not math.isnan(s)]
        return float(np.mean(kept)) if kept else math.nan

    shape_score, pair_score = mean(shapes.values()), mean(pairs.values())
    return {
        "score": mean([shape_score, pair_score]),
        "column_shapes": shape_score,
        "column_pair_trends": pair_score,
        "shapes": shapes,
        "pairs": pairs,
    }
