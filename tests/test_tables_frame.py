"""Dates, keys, high-cardinality text, decimals and metadata of tables (ganforge.tables.frame,
datetimes, keys, metadata): each kind found, modelled and written back in its own form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganforge.errors import GanforgeError
from ganforge.tables import datetimes as dt
from ganforge.tables.frame import MAX_CATEGORIES, TableFrame, decimals
from ganforge.tables.keys import KeyForm, id_like
from ganforge.tables.metadata import read_metadata, to_sdv
from ganforge.tables.transformer import TableTransformer


def people(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A table as people have it: a key, a date, two bound temperatures with one decimal, a
    category, a name of high cardinality and a number with missing values."""
    rng = np.random.default_rng(seed)
    low = np.round(rng.normal(5, 3, n), 1)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    return pd.DataFrame(
        {
            "id": [f"P-{i:04d}" for i in range(n)],
            "day": days.strftime("%d.%m.%Y"),
            "t_min": low,
            "t_max": np.round(low + rng.gamma(2, 2, n), 1),
            "city": rng.choice(["rome", "oslo", "lima"], n),
            "name": [f"name{int(k)}" for k in rng.geometric(0.02, n)],
            "score": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 100, n)),
        }
    )


# -- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2012-01-01", "2015-12-31"], "%Y-%m-%d"),
        (["31.12.2015", "01.02.2016"], "%d.%m.%Y"),
        (["03/04/2024", "12/31/2024"], "%m/%d/%Y"),
        (["13/04/2024", "01/05/2024"], "%d/%m/%Y"),
        (["2024-03-01 12:30:05", "2024-03-02 00:00:00"], "%Y-%m-%d %H:%M:%S"),
        (["Mar 01, 2024", "Dec 24, 2023"], "%b %d, %Y"),
    ],
)
def test_date_formats_are_found_and_written_back_the_same(values, fmt):
    col = pd.Series(values + [None])
    assert dt.detect_format(col) == fmt
    days = dt.to_days(col, fmt)
    assert np.isnan(days[-1])
    back = dt.from_days(days, fmt, dt.unit(fmt, days))
    assert back.tolist() == values + [None]


def test_days_are_counted_from_1970_and_text_or_numbers_are_no_dates():
    assert dt.to_days(pd.Series(["1970-01-11"]), "%Y-%m-%d").tolist() == [10.0]
    assert dt.detect_format(pd.Series(["rome", "oslo"])) is None
    assert dt.detect_format(pd.Series([20240101, 20240102])) is None
    native = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-03"]))
    assert dt.detect_format(native) == dt.NATIVE
    days = dt.to_days(native, dt.NATIVE)
    assert dt.unit(dt.NATIVE, days) == 1.0
    assert dt.from_days(days, dt.NATIVE, 1.0).tolist() == native.tolist()


def test_a_value_that_is_no_date_is_named_with_its_row():
    with pytest.raises(GanforgeError, match=r"'soon' \(row 2\) is not a date"):
        dt.to_days(pd.Series(["2020-01-01", "soon"]), "%Y-%m-%d", "when")


# -- keys -------------------------------------------------------------------------------


def test_keys_are_found_by_name_or_form():
    assert id_like("user_id", pd.Series([5, 9, 2]))
    assert id_like("row", pd.Series([3, 4, 5, 6]))  # counts rows
    assert not id_like("weight", pd.Series([3, 40, 5, 6]))
    assert id_like("iata", pd.Series(["00M", "AB1", "ZZ9"]))  # one length, no spaces
    assert id_like("code2", pd.Series(["00M", "AB1X", "ZZ"]))  # digits, no spaces
    assert not id_like("city", pd.Series(["Oslo", "Rome", "Lima2 x"]))
    assert not id_like("name", pd.Series(["Big Lake", "Oslo", "Rome"]))
    assert not id_like("id", pd.Series(["a", "a", "b"]))  # not unique
    assert not id_like("temp", pd.Series([1.5, 2.5, 3.5]))  # floats never


def test_new_keys_keep_the_form_and_are_unique():
    rng = np.random.default_rng(0)
    ints = KeyForm().fit(pd.Series([7, 3, 5]), "id").generate(4, rng)
    assert ints.tolist() == [3, 4, 5, 6] and ints.dtype == np.int64
    coded = KeyForm().fit(pd.Series(["C-0001", "C-0420"]), "id").generate(3, rng)
    assert coded.tolist() == ["C-0001", "C-0002", "C-0003"]
    form = KeyForm().fit(pd.Series(["00M", "A1X", "Z9Q"]), "iata")
    keys = form.generate(500, rng)
    assert keys.is_unique and (keys.str.len() == 3).all()
    assert keys.str.match(r"^[0-9A-Z][0-9][A-Z]$").all()  # the classes seen at each place
    again = KeyForm.from_state(json.loads(json.dumps(form.state_dict())))
    assert (
        again.generate(5, np.random.default_rng(1)).tolist()
        == form.generate(5, np.random.default_rng(1)).tolist()
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [(["a", "b", "a"], "1 duplicated values"), (["a", None, "b"], "1 missing values")],
)
def test_a_bad_key_column_is_one_clear_error(values, message):
    with pytest.raises(GanforgeError, match=message):
        KeyForm().fit(pd.Series(values), "id")


# -- decimals and the frame -------------------------------------------------------------


def test_decimals_are_those_written():
    assert decimals(pd.Series([1.5, 2.25, np.nan])) == 2
    assert decimals(pd.Series([1.0, 20.0])) == 0
    assert decimals(pd.Series([0.1 + 0.2])) is None  # 0.30000000000000004: 17 places


def test_the_frame_models_dates_as_days_without_keys_and_pools_rare_text():
    df = people()
    frame = TableFrame().fit(df)
    assert frame.kind("id") == "key" and frame.kind("day") == "datetime"
    assert frame.kind("name") == "text" and frame.kind("city") is None
    assert df["name"].nunique() > MAX_CATEGORIES
    modelled = frame.forward(df)
    assert "id" not in modelled.columns
    assert modelled["day"].dtype == np.float64
    pool = frame.pools_["name"]
    assert modelled["name"].nunique() <= len(pool.kept_) + 1
    assert set(modelled["name"]) - set(pool.kept_) == {pool.sentinel_}
    assert frame.decimals_ == {"t_min": 1, "t_max": 1, "score": 0}
    back = frame.inverse(modelled, seed=3)
    assert list(back.columns) == list(df.columns)
    pd.testing.assert_series_equal(back["day"], df["day"], check_dtype=False)
    pd.testing.assert_series_equal(back["t_max"], df["t_max"])
    kept = df["name"].isin(pool.kept_)
    assert (back["name"][kept] == df["name"][kept]).all()
    assert back["name"].isin(set(df["name"])).all()  # pooled values are real ones
    assert back["id"].is_unique and back["id"].str.match(r"^P-\d{4}$").all()


def test_generated_rows_come_back_in_the_columns_own_forms():
    df = people()
    frame = TableFrame(constraints=["t_min <= t_max"]).fit(df)
    modelled = frame.forward(df)
    rng = np.random.default_rng(0)
    noisy = modelled.copy()
    for name in ("t_min", "t_max", "day"):
        noisy[name] = modelled[name] + rng.normal(0, 3, len(df))  # as a generator might
    noisy["t_min"] = noisy["t_min"].clip(df["t_min"].min(), df["t_min"].max())  # as decoded
    back = frame.inverse(noisy, seed=1)
    assert (back["t_min"] <= back["t_max"]).all()
    assert back["t_max"].between(df["t_max"].min(), df["t_max"].max()).all()  # rebuilt, in range
    for name in ("t_min", "t_max"):
        assert (back[name] == back[name].round(1)).all()
    assert pd.to_datetime(back["day"], format="%d.%m.%Y").notna().all()
    assert back["score"].isna().mean() == pytest.approx(df["score"].isna().mean())


def test_the_frame_state_survives_json():
    df = people()
    frame = TableFrame(constraints=["t_min <= t_max"]).fit(df)
    state = json.loads(json.dumps(frame.state_dict()))
    again = TableFrame.from_state(state)
    modelled = frame.forward(df)
    pd.testing.assert_frame_equal(again.forward(df), modelled)
    pd.testing.assert_frame_equal(again.inverse(modelled, 5), frame.inverse(modelled, 5))


@pytest.mark.parametrize(
    ("kinds", "change", "message"),
    [
        ({}, {"score": np.nan}, "column 'score' has no values"),
        ({"key": ["city"]}, {}, "key column 'city' has .* duplicated values"),
        ({"datetime": ["city"]}, {}, r"'.*' is not a date in a known format"),
        ({"datetime": ["nope"]}, {}, "--datetime: no column named 'nope'"),
        ({"text": ["city"], "discrete": ["city"]}, {}, "given as both"),
    ],
)
def test_bad_columns_are_one_clear_error(kinds, change, message):
    df = people().assign(**change)
    with pytest.raises(GanforgeError, match=message):
        TableFrame(kinds).fit(df)


def test_forced_discrete_is_never_pooled():
    df = people()
    frame = TableFrame({"discrete": ["name"]}).fit(df)
    assert "name" not in frame.pools_ and "name" in frame.discrete_


# -- metadata ---------------------------------------------------------------------------


def test_metadata_is_sdv_single_table_layout_and_reads_back():
    df = people()
    frame = TableFrame().fit(df)
    modelled = frame.forward(df)
    from ganforge.tables.columns import infer_columns

    specs = infer_columns(modelled, frame.discrete_, frame.continuous_)
    TableTransformer().fit(modelled, specs)
    meta = to_sdv(frame, specs)
    assert meta["METADATA_SPEC_VERSION"] == "SINGLE_TABLE_V1"
    assert meta["primary_key"] == "id"
    cols = meta["columns"]
    assert cols["day"] == {"sdtype": "datetime", "datetime_format": "%d.%m.%Y"}
    assert cols["id"] == {"sdtype": "id"}
    assert cols["t_min"]["sdtype"] == "numerical" and cols["city"]["sdtype"] == "categorical"
    read = read_metadata(json.loads(json.dumps(meta)))
    assert read["day"] == ("datetime", "%d.%m.%Y") and read["id"] == ("key", None)
    assert read["name"] == ("text", None) and read["t_min"] == ("continuous", None)
    again = TableFrame(metadata=read).fit(df)
    assert [again.kind(n) for n in df] == [frame.kind(n) for n in df]
    assert again.formats_ == frame.formats_
    assert [p.state_dict() for p in again.pools_.values()] == [
        p.state_dict() for p in frame.pools_.values()
    ]
    v2 = read_metadata({"tables": {"t": meta}, "METADATA_SPEC_VERSION": "V2"})
    assert v2 == read


def test_bad_metadata_is_one_clear_error(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        read_metadata(tmp_path / "none.json")
    with pytest.raises(GanforgeError, match="has no sdtype"):
        read_metadata({"columns": {"a": {}}})
    with pytest.raises(GanforgeError, match="names column"):
        TableFrame(metadata={"ghost": ("continuous", None)}).fit(people())


# -- pooling ----------------------------------------------------------------------------


def test_pooled_values_come_from_the_nearest_real_rows():
    from ganforge.tables.pooling import NEIGHBOURS, Pool

    x = np.arange(100.0)
    names = pd.Series([f"v{int(v)}" for v in x] + ["common"] * 5)
    context = pd.DataFrame({"x": np.r_[x, np.zeros(5)], "c": ["a"] * 105})
    pool = Pool().fit(names, context)
    assert pool.kept_ == ["common"]
    pooled = pool.pool(names)
    assert (pooled[:100] == pool.sentinel_).all() and (pooled[100:] == "common").all()
    asked = pd.DataFrame({"x": [50.2] * 40, "c": ["a"] * 40})
    back = pool.unpool(pd.Series([pool.sentinel_] * 40), asked, np.random.default_rng(0))
    nearest = {f"v{k}" for k in sorted(range(100), key=lambda k: abs(k - 50.2))[:NEIGHBOURS]}
    assert set(back) == nearest  # 40 draws among 5: every neighbour is picked
    alone = Pool().fit(names, context[[]])
    drawn = alone.unpool(pd.Series([alone.sentinel_] * 300), asked[[]], np.random.default_rng(0))
    assert drawn.isin(names[:100]).all() and drawn.nunique() > 50


def test_pattern_keys_keep_the_start_and_end_every_key_shares():
    emails = pd.Series([f"{name}@example.com" for name in ["ann", "bo", "cyril", "dee9"]])
    keys = KeyForm().fit(emails, "email").generate(50, np.random.default_rng(0))
    assert keys.is_unique and keys.str.match(r"^[0-9a-z]{2,5}@example\.com$").all()
