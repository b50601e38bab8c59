"""The reversible transformer: exact round trips, spans, missing values, clipping, state."""

import json

import numpy as np
import pandas as pd
import pytest

from ganforge.checkpoint import load_checkpoint, save_checkpoint
from ganforge.errors import GanforgeError
from ganforge.tables.columns import infer_columns
from ganforge.tables.modes import Modes, fit_modes
from ganforge.tables.transformer import TableTransformer


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    bimodal = np.where(rng.random(n) < 0.4, rng.normal(-5, 0.5, n), rng.normal(3, 1.0, n))
    return pd.DataFrame(
        {
            "bimodal": bimodal,
            "age": rng.integers(18, 90, n),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(10, 1, n)),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "member": rng.random(n) < 0.3,
            "kids": rng.integers(0, 4, n),
            "country": "fr",
            "pet": pd.Series(rng.choice(["cat", "dog", None], n), dtype=object),
            "score": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.integers(0, 500, n)), dtype="Int64"
            ),
        }
    )


def _fit(df):
    return TableTransformer(seed=0).fit(df, infer_columns(df))


def _same(a: pd.Series, b: pd.Series) -> bool:
    return a.astype(object).where(a.notna(), None).tolist() == (
        b.astype(object).where(b.notna(), None).tolist()
    )


def test_round_trip_reproduces_the_table():
    df = _table()
    tr = _fit(df)
    back = tr.inverse_transform(tr.transform(df, dtype=np.float64))
    assert list(back.columns) == list(df.columns)
    for name in df:
        if name in ("bimodal", "income"):
            np.testing.assert_allclose(back[name], df[name], rtol=1e-12, atol=1e-9)
            assert back[name].dtype == df[name].dtype
        else:  # integers, categories, booleans and constants: exactly, dtype included
            assert _same(back[name], df[name]), name
    assert back["age"].dtype == np.int64 and back["kids"].dtype == np.int64
    assert back["member"].dtype == bool and str(back["score"].dtype) == "Int64"


def test_float32_round_trip_keeps_integers_and_categories_exact():
    df = _table()
    tr = _fit(df)
    back = tr.inverse_transform(tr.transform(df))  # float32, as the model sees it
    for name in ("age", "city", "member", "kids", "country", "pet", "score"):
        assert _same(back[name], df[name]), name
    np.testing.assert_allclose(back["bimodal"], df["bimodal"], rtol=1e-5, atol=1e-5)


def test_spans_describe_the_layout():
    df = _table()
    tr = _fit(df)
    spans = tr.output_spans
    assert sum(s.size for s in spans) == tr.dim_
    assert [s.start for s in spans] == list(np.cumsum([0] + [s.size for s in spans[:-1]]))
    roles = {(tr.specs_[s.column].name, s.role) for s in spans}
    assert ("income", "missing") in roles and ("bimodal", "missing") not in roles
    assert not any(tr.specs_[s.column].name == "country" for s in spans)  # passed through
    x = tr.transform(df)
    for s in spans:
        part = x[:, s.start : s.end]
        if s.activation == "softmax":
            assert set(np.unique(part)) <= {0.0, 1.0} and (part.sum(1) == 1).all()
    missing = next(s for s in spans if s.role == "missing")
    assert x[:, missing.start + 1].sum() == df["income"].isna().sum()


def test_bimodal_column_gets_two_modes():
    x = _table(2000)["bimodal"].to_numpy()
    modes = fit_modes(x, seed=0)
    assert len(modes) >= 2
    assert modes.means.min() == pytest.approx(-5, abs=0.3)
    assert modes.means.max() == pytest.approx(3, abs=0.3)


def test_modes_encode_decode_inverse():
    modes = Modes(np.array([-1.0, 2.0]), np.array([0.5, 1.0]), np.array([0.3, 0.7]))
    x = np.linspace(-3, 5, 101)
    alpha, mode = modes.encode(x, np.random.default_rng(0))
    np.testing.assert_allclose(modes.decode(alpha, mode), x, rtol=0, atol=1e-12)
    p = modes.responsibilities(x)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert p[0].argmax() == 0 and p[-1].argmax() == 1


def test_clipping_keeps_values_in_range():
    df = _table()
    tr = _fit(df)
    x = tr.transform(df)
    value = next(s for s in tr.output_spans if s.role == "value")
    x[:, value.start] = 50.0  # far outside any mode
    spec = tr.specs_[value.column]
    clipped = tr.inverse_transform(x)[spec.name]
    assert clipped.min() >= spec.low and clipped.max() <= spec.high
    assert (tr.inverse_transform(x, clip=False)[spec.name] > spec.high).all()


def test_state_round_trips_through_a_checkpoint(tmp_path):
    df = _table()
    tr = _fit(df)
    state = tr.state_dict()
    json.dumps(state)  # plain JSON: no pickle anywhere
    save_checkpoint(tmp_path / "t.safetensors", {"transformer": state})
    again = TableTransformer()
    again.load_state_dict(load_checkpoint(tmp_path / "t.safetensors")["transformer"])
    np.testing.assert_array_equal(again.transform(df), tr.transform(df))
    assert again.output_spans == tr.output_spans


def test_unknown_category_and_missing_column_are_errors():
    df = _table()
    tr = _fit(df)
    with pytest.raises(GanforgeError, match="'city' holds 'tokyo'.*known values"):
        tr.transform(df.assign(city="tokyo"))
    with pytest.raises(GanforgeError, match="lacks column.*'age'"):
        tr.transform(df.drop(columns="age"))
    with pytest.raises(GanforgeError, match="had none when the model was fitted"):
        tr.transform(df.assign(city=None))
