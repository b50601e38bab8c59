"""The SDMetrics-style quality score against values worked out by hand on tiny tables."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import association

from ganforge.errors import GanforgeError
from ganforge.tables.quality import (
    _cramers_v,
    contingency_similarity,
    correlation_similarity,
    ks_complement,
    quality_report,
    tv_complement,
)


def close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=0.0, abs_tol=1e-12)


def test_tv_complement_by_hand():
    real = pd.Series(["a", "a", "b", "c"])  # a 1/2, b 1/4, c 1/4
    synth = pd.Series(["a", "b", "b", None])  # missing dropped: a 1/3, b 2/3
    assert close(tv_complement(real, synth), 1 - 0.5 * (1 / 6 + 5 / 12 + 1 / 4))
    assert tv_complement(real, real) == 1.0
    assert math.isnan(tv_complement(real, pd.Series([None, None])))


def test_tv_complement_gives_a_synthetic_only_value_a_tiny_real_count():
    eps = 1e-6  # real counts: a 2, z eps; synthetic: a 1/2, z 1/2
    score = tv_complement(pd.Series(["a", "a"]), pd.Series(["a", "z"]))
    assert close(score, 1 - 0.5 * (2 / (2 + eps) - 0.5 + 0.5 - eps / (2 + eps)))
    assert score > 0.5 + 1e-7


def test_ks_complement_by_hand():
    assert close(ks_complement([1, 2, 3, 4], [3, 4, 5, 6]), 0.5)  # |F| gap 1/2 at 2 and at 4
    assert close(ks_complement([1.0, 1.0, 2.0, np.nan], [1.0, 2.0, 2.0]), 2 / 3)  # 2/3 vs 1/3
    assert ks_complement([0.1 + 0.2], [0.3]) == 1.0  # rounded to 14 decimals first
    assert math.isnan(ks_complement([np.nan], [1.0]))
    days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])
    assert close(ks_complement(pd.Series(days), pd.Series(days + pd.Timedelta(days=1))), 2 / 3)


def test_correlation_similarity_from_known_pearson():
    x = [1.0, 2.0, 3.0]
    half, one = (x, [1.0, 3.0, 2.0]), (x, [1.0, 2.0, 3.0])  # r = 0.5 and r = 1
    assert close(correlation_similarity(half, one), 1 - abs(0.5 - 1.0) / 2)
    assert close(correlation_similarity(one, (x, [3.0, 2.0, 1.0])), 0.0)  # 1 vs -1
    assert math.isnan(correlation_similarity(half, one, threshold=0.6))  # |r_real| too small
    assert close(correlation_similarity(half, one, threshold=0.4), 0.75)
    assert close(correlation_similarity(one, half, threshold=0.5), 0.75)
    # Pearson, not Spearman: r = 14 / sqrt(5 * 50) here, whereas the ranks agree perfectly
    bent = ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 10.0])
    assert close(correlation_similarity(bent, (x, x)), 1 - (1 - 14 / math.sqrt(250)) / 2)
    # rows with a missing value are dropped, pair by pair
    assert close(correlation_similarity(([*x, np.nan], [1, 3, 2, 9]), one), 0.75)
    assert math.isnan(correlation_similarity(one, (x, [2.0, 2.0, 2.0])))  # constant


def test_contingency_similarity_two_by_two():
    real = (["x", "x", "y", "y"], ["p", "p", "q", "q"])  # Cramér's V = 1
    synth = (["x", "x", "y", "y"], ["p", "q", "q", "q"])  # xp 1/4, xq 1/4, yq 1/2
    assert close(contingency_similarity(real, synth), 1 - 0.5 * (0.25 + 0.25))
    assert close(contingency_similarity(real, synth, threshold=0.3), 0.75)
    independent = (["x", "x", "y", "y"], ["p", "q", "p", "q"])  # each 1/4, Cramér's V = 0
    assert close(contingency_similarity(independent, synth), 1 - 0.5 * (0.25 + 0.25))  # yp, yq
    assert math.isnan(contingency_similarity(independent, synth, threshold=0.3))


def test_contingency_counts_missing_as_a_category():
    real = (["x", None], ["p", "p"])  # (x, p) 1/2, (missing, p) 1/2
    synth = ([None, None], ["p", "p"])  # (missing, p) 1
    assert close(contingency_similarity(real, synth), 0.5)
    # missing in the second column: (y, missing) is a cell of its own, not (x, p)
    assert close(contingency_similarity((["x", "y"], ["p", None]), (["x", "x"], ["p", "p"])), 0.5)


def test_cramers_v_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 300), rng.integers(0, 3, 300)
    b = np.where(rng.random(300) < 0.4, a % 3, b)
    table = np.zeros((4, 3), dtype=int)
    np.add.at(table, (a, b), 1)
    assert close(_cramers_v(a, b), association(table, method="cramer"))


def test_mixed_pair_bins_each_table_on_its_own_range():
    meta = {"columns": {"n": {"sdtype": "numerical"}, "c": {"sdtype": "categorical"}}}
    # real bins over [0, 10]: 0 -> 1, 5 -> 6, 10 -> 11 (the top value lands after the last edge)
    real = pd.DataFrame({"n": [0.0, 5.0, 10.0], "c": ["a", "a", "b"]})
    # synthetic bins over [0, 5]: 0 -> 1, 5 -> 11, missing -> 11
    synth = pd.DataFrame({"n": [0.0, 5.0, np.nan], "c": ["a", "a", "b"]})
    out = quality_report(real, synth, meta, real_association_threshold=0)
    assert close(out["pairs"]["n", "c"], 1 - 0.5 * (1 / 3 + 1 / 3))  # (6, a) and (11, a) differ
    # a synthetic column on another scale falls in the same bins: the pair matches, the shape not
    out = quality_report(real, real.assign(n=real["n"] * 10 + 200), meta)
    assert out["pairs"]["n", "c"] == 1.0
    assert out["shapes"]["n"] == 0.0


def test_identical_tables_score_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    real = pd.DataFrame(
        {
            "id": np.arange(200),
            "x": x,
            "y": 2 * x + rng.normal(0, 0.1, 200),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(200), unit="D"),
            "big": x > 0,
            "group": np.where(x > 0.5, "hi", "lo"),
        }
    )
    meta = {
        "primary_key": "id",
        "columns": {
            "id": {"sdtype": "id"},
            "x": {"sdtype": "numerical"},
            "y": {"sdtype": "numerical"},
            "when": {"sdtype": "datetime"},
            "big": {"sdtype": "boolean"},
            "group": {"sdtype": "categorical"},
        },
    }
    out = quality_report(real, real.copy(), meta)
    assert out["score"] == out["column_shapes"] == out["column_pair_trends"] == 1.0
    assert set(out["shapes"]) == {"x", "y", "when", "big", "group"}
    assert out["pairs"]["x", "y"] == 1.0 and out["pairs"]["x", "big"] == 1.0
    assert math.isnan(out["pairs"]["x", "when"])  # no real correlation: not counted


def test_unscored_sdtypes_and_primary_key_are_left_out():
    meta = {
        "primary_key": "key",
        "columns": {
            "key": {"sdtype": "id"},
            "mail": {"sdtype": "email"},
            "note": {"sdtype": "text"},
            "blob": {"sdtype": "unknown"},
            "c": {"sdtype": "categorical"},
        },
    }
    real = pd.DataFrame({"key": [1, 2], "mail": ["a@b", "c@d"], "note": ["x", "y"]})
    real = real.assign(blob=[0, 1], c=["u", "v"])
    synth = pd.DataFrame({"key": [7, 8], "mail": ["e@f", "g@h"], "note": ["z", "w"]})
    synth = synth.assign(blob=[5, 6], c=["u", "u"])
    out = quality_report(real, synth, meta)
    assert out["shapes"] == {"c": 0.5} and out["pairs"] == {}
    assert out["column_shapes"] == out["score"] == 0.5 and math.isnan(out["column_pair_trends"])


def test_missing_values_and_nan_scores_are_skipped():
    meta = {"columns": {"a": {"sdtype": "numerical"}, "b": {"sdtype": "numerical"}}}
    real = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [np.nan, 1.0, 1.0, 2.0]})
    synth = pd.DataFrame({"a": [1.0, 2.0, 4.0, np.nan], "b": [np.nan] * 4})
    out = quality_report(real, synth, meta, real_correlation_threshold=0)
    assert out["shapes"]["a"] == 1.0 and math.isnan(out["shapes"]["b"])
    assert math.isnan(out["pairs"]["a", "b"])
    assert out["column_shapes"] == out["score"] == 1.0


def test_datetime_strings_parsed_with_their_format():
    meta = {"columns": {"d": {"sdtype": "datetime", "datetime_format": "%d/%m/%Y"}}}
    real = pd.DataFrame({"d": ["01/02/2020", "10/02/2020", None]})  # 1 and 10 February
    synth = pd.DataFrame({"d": pd.to_datetime(["2020-02-01", "2020-02-10"])})
    assert quality_report(real, synth, meta)["shapes"]["d"] == 1.0  # month-first would be 0.5
    later = pd.DataFrame({"d": ["05/02/2020", "10/02/2020"]})
    assert close(quality_report(real, later, meta)["shapes"]["d"], 0.5)
    no_format = {"columns": {"d": {"sdtype": "datetime"}}}
    assert math.isnan(quality_report(real, later, no_format)["shapes"]["d"])


def test_overall_score_is_the_mean_of_the_two_properties():
    meta = {"columns": {"u": {"sdtype": "categorical"}, "v": {"sdtype": "categorical"}}}
    real = pd.DataFrame({"u": ["x", "x", "y", "y"], "v": ["p", "p", "q", "q"]})
    synth = pd.DataFrame({"u": ["x", "x", "y", "y"], "v": ["p", "q", "q", "q"]})
    out = quality_report(real, synth, meta)
    assert close(out["column_shapes"], (1.0 + 0.75) / 2)
    assert close(out["column_pair_trends"], 0.75)
    assert close(out["score"], (0.875 + 0.75) / 2)
    v2 = {"METADATA_SPEC_VERSION": "V2", "tables": {"t": meta}}
    assert quality_report(real, synth, v2) == out
    with pytest.raises(GanforgeError, match="one table"):
        quality_report(real, synth, {"tables": {"t": meta, "s": meta}})
    with pytest.raises(GanforgeError, match="not in the data"):
        quality_report(real[["u"]], synth, meta)
