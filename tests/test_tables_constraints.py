"""Constraints between table columns: parsing, an exact round trip, rules kept on arbitrary
generated values, repairs after rounding, clear errors, a JSON state."""

import json

import numpy as np
import pandas as pd
import pytest

from ganforge.errors import GanforgeError
from ganforge.tables.constraints import (
    Constraints,
    Fixed,
    Inequality,
    parse_constraint,
    parse_constraints,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a <= b", Inequality("a", "b", False)),
        ("a<b", Inequality("a", "b", True)),
        ("a >= b", Inequality("b", "a", False)),
        ("a>b", Inequality("b", "a", True)),
        ("  temp min<=temp_max.2 ", Inequality("temp min", "temp_max.2", False)),
        ("fixed: city, country", Fixed(("city", "country"))),
        ("Fixed:zip code,city,country", Fixed(("zip code", "city", "country"))),
    ],
)
def test_parse_every_form(text, expected):
    parsed = parse_constraint(text)
    assert parsed == expected
    assert parse_constraint(str(parsed)) == parsed  # str() writes a form parse reads


def test_str_and_lists():
    assert str(Inequality("a", "b", True)) == "a < b"
    assert str(Inequality("a", "b", False)) == "a <= b"
    assert str(Fixed(("a", "b"))) == "fixed: a, b"
    assert parse_constraints(None) == []
    assert parse_constraints("a < b") == [Inequality("a", "b", True)]
    assert parse_constraints(["b >= a", Fixed(("c", "d"))]) == [
        Inequality("a", "b", False),
        Fixed(("c", "d")),
    ]


@pytest.mark.parametrize("text", ["a = b", "a == b", "a <= b <= c", "a <=", "<= b", "", "fixed:"])
def test_parse_refuses_bad_text_naming_the_forms(text):
    with pytest.raises(GanforgeError, match="write 'A <= B', 'A < B', 'A >= B', 'A > B' or"):
        parse_constraint(text)


@pytest.mark.parametrize(
    "text, match", [("a <= a", "itself"), ("fixed: a", "2 or more"), ("fixed: a, a", "2 or more")]
)
def test_parse_refuses_degenerate_constraints(text, match):
    with pytest.raises(GanforgeError, match=match):
        parse_constraint(text)


def _table():
    return pd.DataFrame(
        {
            "id": [10, 11, 12, 13, 14],
            "city": ["paris", "rome", None, "paris", "rome"],
            "start": [1, 2, 3, 4, 5],
            "mid": [1.5, 2.25, np.nan, 5.0, 5.0],
            "end": [3, 3, 5, 6, 7],
            "country": ["fr", "it", "xx", None, "it"],
            "members": pd.array([1, None, 3, 4, None], dtype="Int64"),
            "open": [True, False, True, True, False],
        },
        index=[7, 7, 3, 2, 1],  # repeated labels: nothing may align on the index
    )


RULES = ["start <= mid", "mid < end", "start < end", "fixed: city, country, members, open"]


def test_forward_values_names_and_order():
    df = _table()
    rules = Constraints(RULES).fit(df)
    out = rules.forward(df)
    assert list(out.columns) == ["id", "city + country + members + open", "start", "mid", "end"]
    assert out["city + country + members + open"].dtype == object
    assert out["city + country + members + open"].tolist() == [
        '["paris", "fr", 1, true]',
        '["rome", "it", null, false]',
        '[null, "xx", 3, true]',
        '["paris", null, 4, true]',
        '["rome", "it", null, false]',
    ]
    np.testing.assert_array_equal(out["mid"], [0.5, 0.25, np.nan, 1.0, 0.0])
    # end - max(start, mid) from the original mid; the missing mid leaves start
    np.testing.assert_array_equal(out["end"], [1.5, 0.75, 2.0, 1.0, 2.0])
    pd.testing.assert_series_equal(out["id"], df["id"])
    assert rules.derived == {
        "mid": "mid - start",
        "end": "end - max(mid, start)",
        "city + country + members + open": "fixed: city, country, members, open",
    }


def test_round_trip_gives_the_table_back_with_its_dtypes():
    df = _table()
    rules = Constraints(RULES).fit(df)
    back = rules.inverse(rules.forward(df))
    pd.testing.assert_frame_equal(back, df, check_exact=False, rtol=1e-12)
    assert back.dtypes.to_dict() == df.dtypes.to_dict()  # ints, Int64, str, bool all kept
    fixed = ["city", "country", "members", "open"]
    pd.testing.assert_frame_equal(back[fixed], df[fixed], check_exact=True)


def test_round_trip_of_random_floats_and_objects():
    rng = np.random.default_rng(0)
    n = 200
    a = rng.normal(0, 100, n)
    df = pd.DataFrame({"a": a, "b": a + rng.exponential(3, n), "c": 0.0})
    df["c"] = df["b"] + rng.exponential(1, n) + 1e-3
    mixed = np.array([1, "x", 2.5], dtype=object)
    df["k"] = pd.Series(mixed[rng.integers(0, 3, n)], dtype=object).where(rng.random(n) > 0.2)
    df["g"] = rng.choice(["u", "v"], n)
    rules = Constraints(["a <= b", "b < c", "fixed: k, g"]).fit(df)
    back = rules.inverse(rules.forward(df))
    pd.testing.assert_frame_equal(back, df, check_exact=False, rtol=1e-12, atol=1e-9)
    assert back["k"].isna().sum() == df["k"].isna().sum() > 0


def test_chain_gaps_come_from_the_original_values():
    df = pd.DataFrame({"a": [0, 1, -4], "b": [1, 4, -4], "c": [2, 6, 0]})
    rules = Constraints(["b <= c", "a <= b"]).fit(df)
    out = rules.forward(df)
    assert out["b"].tolist() == [1.0, 3.0, 0.0] and out["c"].tolist() == [1.0, 2.0, 4.0]
    pd.testing.assert_frame_equal(rules.inverse(out), df)


def test_many_lows_use_the_lows_present():
    df = pd.DataFrame(
        {
            "a": [0.0, np.nan, 2.0, np.nan, 1.0],
            "b": [1.0, 4.0, np.nan, np.nan, 0.0],
            "d": [5.0, 5.0, 8.0, 9.5, np.nan],
        }
    )
    rules = Constraints(["a <= d", "b < d"]).fit(df)
    out = rules.forward(df)
    np.testing.assert_array_equal(out["d"], [4.0, 1.0, 6.0, np.nan, np.nan])
    expected = df.copy()
    expected.loc[3, "d"] = np.nan  # every low missing: the high is not modelled (documented)
    pd.testing.assert_frame_equal(rules.inverse(out), expected)


def _random_generated(seen, n, rng):
    """Rows as a model might give them: gaps of any sign, lows missing, seen combinations."""
    out = pd.DataFrame(
        {
            "fixed": rng.choice(seen, n).astype(object),
            "a": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 5, n)),
            "b": rng.normal(0, 2, n),
            "c": rng.choice([-1.0, 0.0, 0.0, 1e-12, 0.5, 3.0], n),
            "d": rng.normal(0, 1, n),
            "e": np.round(rng.normal(0, 1, n)),
        }
    )
    return out.rename(columns={"fixed": "x + y"})


def test_inverse_of_arbitrary_values_keeps_every_rule():
    rng = np.random.default_rng(1)
    n = 60
    a = rng.normal(0, 5, n).round(1)
    train = pd.DataFrame({"a": a, "b": a + 1.0, "c": a + 2.0, "d": a + 3.5, "e": 0})
    train["e"] = np.ceil(train["d"]).astype(int) + 1
    train["x"] = rng.choice(["p", "q", "r"], n)
    train["y"] = rng.choice([1, 2], n)
    rules = Constraints(
        ["a <= b", "b < c", "a < c", "d >= c", "e > d", "a < e", "fixed: x, y"]
    ).fit(train)
    seen = sorted(set(rules.forward(train)["x + y"]))
    unit = rules.state_dict()["units"]["c"]
    assert unit == pytest.approx(1.0)  # every gap c - b in the data is 1
    for seed in range(5):
        gen = _random_generated(seen, 500, np.random.default_rng(seed))
        rows = rules.inverse(gen)
        a, b, c, d, e = (rows[k].to_numpy(dtype=float) for k in "abcde")
        present = ~np.isnan(a)  # a missing: b (its only low) too, and so all above it
        for high in (b, c, d, e):
            np.testing.assert_array_equal(np.isnan(high), ~present)
        a, b, c, d, e = a[present], b[present], c[present], d[present], e[present]
        assert np.all(b >= a) and np.all(c > b) and np.all(c > a)
        assert np.all(d >= c) and np.all(e > d) and np.all(e > a)
        assert np.all(c - b >= unit * (1 - 1e-12))  # b is the largest low of c: gap >= unit
        combos = set(zip(rows["x"], rows["y"], strict=True))
        assert combos <= set(zip(train["x"], train["y"], strict=True))
        assert rows["y"].dtype == train["y"].dtype and list(rows.columns) == list(train.columns)


def test_strict_without_a_grid_still_gives_a_larger_value():
    rng = np.random.default_rng(2)
    low = rng.normal(0, 1, 50)
    train = pd.DataFrame({"low": low, "high": low + rng.exponential(1, 50)})
    rules = Constraints(["low < high"]).fit(train)
    gen = pd.DataFrame({"low": [1e9, -3.0, 0.1, 1e20], "high": [0.0, -5.0, 1e-300, 0.0]})
    high = rules.inverse(gen)["high"].to_numpy()
    assert np.all(high > gen["low"].to_numpy())


def test_inverse_refuses_a_combination_never_seen():
    df = pd.DataFrame({"city": ["paris", "rome"], "country": ["fr", "it"]})
    rules = Constraints(["fixed: city, country"]).fit(df)
    bad = pd.DataFrame({"city + country": ['["paris", "it"]']})
    with pytest.raises(GanforgeError, match="not a combination seen in training"):
        rules.inverse(bad)


def test_enforce_after_rounding_fixes_only_broken_rows():
    rng = np.random.default_rng(3)
    low = rng.uniform(0, 10, 40).round(2)
    train = pd.DataFrame({"low": low, "high": np.ceil(low) + 1, "top": np.ceil(low) + 3})
    rules = Constraints(["low <= high", "high < top"]).fit(train)
    gen = pd.DataFrame({"low": rng.uniform(0, 10, 300), "high": rng.normal(0, 1, 300), "top": 0.0})
    rows = rules.inverse(gen)
    rows["low"] = rows["low"].round(2)
    rows[["high", "top"]] = rows[["high", "top"]].round(0)
    broken = rows["high"] < rows["low"]
    assert 10 < broken.sum() < 290  # rounding broke some rows, not all
    fixed = rules.enforce(rows, units={"high": 1.0, "top": 1.0})
    assert np.all(fixed["high"] >= fixed["low"]) and np.all(fixed["top"] > fixed["high"])
    kept = rows["top"] > fixed["high"]
    assert 0 < kept.sum() < 300
    pd.testing.assert_series_equal(fixed["top"][kept], rows["top"][kept])
    pd.testing.assert_series_equal(fixed["high"][~broken], rows["high"][~broken])
    np.testing.assert_array_equal(fixed["high"][broken], np.ceil(rows["low"][broken]))
    np.testing.assert_array_equal(fixed["high"] % 1, 0.0)
    pd.testing.assert_series_equal(fixed["low"], rows["low"])


def test_enforce_exact_values_grids_and_missing():
    rules = Constraints(["a <= b", "a < c"]).fit(
        pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 1.0], "c": [1, 2]})
    )
    rows = pd.DataFrame(
        {
            "a": [1.25, 2.0, 3.5, np.nan, 0.25, 0.3],
            "b": [1.0, 2.0, 4.0, 0.0, 0.2, 0.1],
            "c": [1, 2, 4, 0, 0, 0],
        }
    )
    out = rules.enforce(rows, units={"b": 0.1, "c": 1})
    assert out["b"].tolist() == [1.3, 2.0, 4.0, 0.0, 0.3, 0.3]  # 0.3, not 0.30000000000000004
    assert out["c"].tolist() == [2, 3, 4, 0, 1, 1] and out["c"].dtype == np.int64
    no_grid = rules.enforce(rows)
    assert no_grid["b"].tolist() == [1.25, 2.0, 4.0, 0.0, 0.25, 0.3]
    assert no_grid["c"].iloc[1] == np.nextafter(2.0, 3.0)
    with pytest.raises(GanforgeError, match="positive number"):
        rules.enforce(rows, units={"b": 0})


def test_enforce_repairs_chains_in_order():
    rules = Constraints(["b <= c", "a <= b"]).fit(
        pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 1.0], "c": [2.0, 2.0]})
    )
    out = rules.enforce(pd.DataFrame({"a": [5.0, 0.0], "b": [1.0, 1.0], "c": [2.0, 2.0]}))
    assert out.to_dict("list") == {"a": [5.0, 0.0], "b": [5.0, 1.0], "c": [5.0, 2.0]}


def _weather():
    return pd.DataFrame(
        {"temp_min": [1.0, 5.0, 3.0, np.nan], "temp_max": [2.0, 4.0, 3.0, 1.0], "town": "x"}
    )


@pytest.mark.parametrize(
    "rules, message",
    [
        (
            ["temp_min <= tmax"],
            "constraints name no column 'tmax'; the table has: temp_min, temp_max, town",
        ),
        (["temp_min <= town"], "constraint 'temp_min <= town': column 'town' is not numeric"),
        (
            ["temp_min <= temp_max"],
            "constraint 'temp_min <= temp_max' is broken by 1 of 4 rows; fix those rows or "
            "drop the constraint",
        ),
        (["temp_min < temp_max"], "constraint 'temp_min < temp_max' is broken by 2 of 4 rows"),
        (
            ["temp_min <= temp_max", "town <= temp_max", "temp_max <= temp_min"],
            "the constraints 'temp_min <= temp_max', 'temp_max <= temp_min' form a cycle",
        ),
        (
            ["fixed: town, temp_min", "fixed: temp_max, town"],
            "column 'town' is in both 'fixed: town, temp_min' and 'fixed: temp_max, town'",
        ),
        (
            ["temp_min <= temp_max", "fixed: town, temp_max"],
            "column 'temp_max' is in both 'temp_min <= temp_max' and 'fixed: town, temp_max'",
        ),
    ],
)
def test_errors_name_the_problem(rules, message):
    with pytest.raises(GanforgeError) as err:
        Constraints(rules).fit(_weather())
    assert message in str(err.value) and "\n" not in str(err.value)


def test_fitting_is_needed_and_names_do_not_clash():
    with pytest.raises(GanforgeError, match="call fit"):
        Constraints(["a <= b"]).forward(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "a + b": [0.5, 0.6]})
    rules = Constraints(["fixed: a, b"]).fit(df)
    out = rules.forward(df)
    assert list(out.columns) == ["a + b (2)", "a + b"]
    pd.testing.assert_frame_equal(rules.inverse(out), df)


def test_state_dict_through_json_gives_the_same_inverse():
    df = _table()
    rules = Constraints(RULES).fit(df)
    rng = np.random.default_rng(4)
    gen = rules.forward(df).sample(40, replace=True, random_state=0).reset_index(drop=True)
    gen[["mid", "end"]] = rng.normal(0, 1, (40, 2))
    again = Constraints()
    again.load_state_dict(json.loads(json.dumps(rules.state_dict())))
    pd.testing.assert_frame_equal(again.inverse(gen), rules.inverse(gen))
    assert again.derived == rules.derived and again.constraints == rules.constraints
    units = {"end": 1.0}
    pd.testing.assert_frame_equal(again.enforce(df, units), rules.enforce(df, units))


def test_missing_values_are_combinations_of_their_own():
    df = pd.DataFrame({"x": ["a", "b", "a", "b"], "y": ["d", None, "c", "d"]})
    rules = Constraints(["fixed: x, y"]).fit(df)
    assert rules.forward(df)["x + y"].tolist() == [
        '["a", "d"]',
        '["b", null]',
        '["a", "c"]',
        '["b", "d"]',
    ]
    pd.testing.assert_frame_equal(rules.inverse(rules.forward(df)), df)
