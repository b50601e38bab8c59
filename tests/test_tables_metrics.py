"""Table metrics against independent computations on small tables."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats.contingency import association

from ganforge.tables.columns import infer_columns
from ganforge.tables.metrics import (
    column_shape_scores,
    column_shapes,
    cramers_v,
    ks_statistic,
    ml_efficacy,
    pair_trend_scores,
    range_fidelity,
    total_variation,
)
from ganforge.tables.privacy import copied_rows, dcr
from ganforge.tables.scores import table_metrics


def test_ks_matches_scipy():
    rng = np.random.default_rng(0)
    for n, m, shift in ((50, 80, 0.0), (200, 30, 0.7), (10, 10, 3.0)):
        a, b = rng.normal(size=n), rng.normal(shift, 1.3, size=m)
        assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    ties = np.array([1.0, 1, 2, 2, 3]), np.array([1.0, 2, 2, 2, 2, 5])
    assert ks_statistic(*ties) == pytest.approx(stats.ks_2samp(*ties).statistic, abs=1e-12)
    assert ks_statistic(np.array([1.0, np.nan, 2]), np.array([1.0, 2])) == 0.0


def test_total_variation_by_hand():
    a = pd.Series(["x", "x", "y", None])  # x .5, y .25, missing .25
    b = pd.Series(["x", "z", "z", "z"])  # x .25, z .75
    assert total_variation(a, b) == pytest.approx(0.5 * (0.25 + 0.25 + 0.25 + 0.75))
    assert total_variation(a, a) == 0.0


def test_column_shapes_average_ks_and_tvd():
    real = pd.DataFrame({"x": [0.0, 1, 2, 3], "c": ["a", "a", "b", "b"], "k": 5})
    syn = pd.DataFrame({"x": [0.0, 1, 2, 10], "c": ["a", "b", "b", "b"], "k": 5})
    specs = infer_columns(real, discrete=["c"])
    scores = column_shape_scores(real, syn, specs)
    assert set(scores) == {"x", "c"}  # the constant column is left out
    assert scores["x"] == pytest.approx(1 - stats.ks_2samp(real.x, syn.x).statistic)
    assert scores["c"] == pytest.approx(0.75)
    assert column_shapes(real, syn, specs) == pytest.approx((scores["x"] + 0.75) / 2)


def test_cramers_v_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, 200)
    y = (x + rng.integers(0, 2, 200)) % 4
    table = pd.crosstab(x, y).to_numpy()
    assert cramers_v(x, y) == pytest.approx(association(table, method="cramer"), abs=1e-12)
    assert cramers_v(x, x) == pytest.approx(1.0)
    assert cramers_v(x, np.zeros(200)) == 0.0


def test_pair_trends_by_hand():
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    real = pd.DataFrame({"a": x, "b": x + 0.5 * rng.normal(size=300), "c": x > 0})
    syn = pd.DataFrame({"a": x, "b": rng.normal(size=300), "c": rng.random(300) > 0.5})
    specs = infer_columns(real)
    scores = pair_trend_scores(real, syn, specs)
    rho_r = np.corrcoef(real.a, real.b)[0, 1]
    rho_s = np.corrcoef(syn.a, syn.b)[0, 1]
    assert scores[("a", "b")] == pytest.approx(1 - abs(rho_r - rho_s) / 2)
    # a continuous column against a categorical one: Cramér's V on 10 quantile bins
    edges = np.quantile(real.a, np.linspace(0, 1, 11)[1:-1])
    v_r = association(pd.crosstab(np.searchsorted(edges, real.a, "right"), real.c).to_numpy())
    v_s = association(pd.crosstab(np.searchsorted(edges, syn.a, "right"), syn.c).to_numpy())
    assert scores[("a", "c")] == pytest.approx(1 - abs(v_r - v_s))
    assert pair_trend_scores(real, real, specs) == pytest.approx(dict.fromkeys(scores, 1.0))


def test_range_fidelity_counts_values_inside():
    real = pd.DataFrame({"x": [0.0, 10.0, 5.5], "y": [1.0, 2.5, 3.0]})
    syn = pd.DataFrame({"x": [-1.0, 0.0, 10.0, 11.0], "y": [1.0, 2.0, 2.5, np.nan]})
    assert range_fidelity(real, syn) == pytest.approx((0.5 + 1.0) / 2)


def test_ml_efficacy_on_a_separable_table():
    rng = np.random.default_rng(3)

    def table(n):
        x = rng.normal(size=(n, 2))
        return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": (x[:, 0] > 0).astype(int)})

    train, test = table(400), table(200)
    good = ml_efficacy(train, test, table(400), "y")
    assert good["ml_real"] > 0.95 and good["ml_ratio"] == pytest.approx(1.0, abs=0.05)
    shuffled = table(400).assign(y=lambda d: rng.permutation(d.y.to_numpy()))
    assert ml_efficacy(train, test, shuffled, "y")["ml_ratio"] < 0.75


def test_ml_efficacy_skips_rows_without_a_continuous_target():
    rng = np.random.default_rng(4)

    def table(n):
        x = rng.normal(size=n)
        y = np.where(rng.random(n) < 0.3, np.nan, 2 * x)
        return pd.DataFrame({"x": x, "y": y})

    train, test, synthetic = table(300), table(100), table(300)
    scores = ml_efficacy(train, test, synthetic, "y")
    # the same numbers as on the rows that have a target, where R² of y = 2x is near 1
    dropped = [frame[frame.y.notna()] for frame in (train, test, synthetic)]
    assert scores == ml_efficacy(*dropped, "y", specs=infer_columns(train))
    assert scores["ml_real"] > 0.9 and scores["ml_synthetic"] > 0.9


def test_copied_rows_and_dcr():
    train = pd.DataFrame({"x": [0.0, 1.5, 2.0, 3.0], "c": ["a", "b", "a", "b"]})
    syn = pd.DataFrame({"x": [0.0, 1.0, 2.5, 3.0], "c": ["a", "a", "a", "b"]})
    assert copied_rows(train, syn) == pytest.approx(0.5)  # rows 0 and 3
    assert copied_rows(train, train.astype({"x": np.float32})) == 1.0
    holdout = pd.DataFrame({"x": [0.5, 2.5], "c": ["a", "b"]})
    specs = infer_columns(train)
    d = dcr(train, syn, holdout, specs)
    # x scaled by its range 3; nearest training rows: itself, (0|2, a), (2, a), itself
    assert d["dcr_synthetic"] == pytest.approx(np.median([0, 1 / 3, 0.5 / 3, 0]))
    assert d["dcr_holdout"] == pytest.approx(0.5 / 3)
    m = table_metrics(train, syn, specs, holdout=holdout)
    assert m["copied"] == 0.5 and m["dcr_ratio"] == pytest.approx(d["dcr_ratio"])


def test_holdout_split_is_seeded_and_stratified():
    from ganforge.tables.scores import holdout_split

    df = pd.DataFrame({"x": np.arange(100.0), "y": [0] * 80 + [1] * 20})
    train, held = holdout_split(df, 0.2, seed=1, stratify="y")
    assert len(train) == 80 and len(held) == 20 and held["y"].sum() == 4
    again, _ = holdout_split(df, 0.2, seed=1, stratify="y")
    pd.testing.assert_frame_equal(train, again)
    assert not set(train["x"]) & set(held["x"])


def test_ml_efficacy_takes_thousands_of_categories():
    from ganforge.tables.metrics import MAX_CODES, _features, _levels

    rng = np.random.default_rng(0)
    n = 600
    names = np.array([f"n{k}" for k in rng.integers(0, 400, n)])
    x = rng.normal(size=n)
    df = pd.DataFrame({"name": names, "x": x, "y": 2 * x + rng.normal(0, 0.1, n)})
    scores = ml_efficacy(df[:400], df[400:], df[:400], "y")
    assert scores["ml_real"] > 0.9 and scores["ml_ratio"] == 1.0
    spec = next(s for s in infer_columns(df) if s.name == "name")
    kept, pooled = _levels(df, spec)
    assert pooled and len(kept) == MAX_CODES - 1
    codes = _features(df, [spec], {"name": (kept, pooled)})[:, 0]
    assert np.nanmax(codes) == MAX_CODES - 1  # the rarest names share the last code
    assert set(df["name"][codes < MAX_CODES - 1]) == set(kept)
