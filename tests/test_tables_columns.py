"""Column types: inferred from the data, overridable by name, with clear errors."""

import numpy as np
import pandas as pd
import pytest

from ganforge.errors import GanforgeError
from ganforge.tables.columns import (
    ColumnSpec,
    infer_columns,
    is_point_set,
    native,
    read_table,
)


def _mixed(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n),
            "age": rng.integers(18, 90, n),
            "kids": rng.integers(0, 4, n),
            "city": rng.choice(["paris", "rome"], n),
            "member": rng.random(n) < 0.5,
            "country": "fr",
            "income": np.where(np.arange(n) % 5 == 0, np.nan, rng.lognormal(10, 1, n)),
        }
    )


def test_kinds_inferred_from_the_values():
    specs = {s.name: s for s in infer_columns(_mixed())}
    assert specs["height"].kind == "continuous" and not specs["height"].integer
    assert specs["age"].kind == "continuous" and specs["age"].integer  # many whole numbers
    assert specs["kids"].kind == "categorical"  # few whole numbers
    assert specs["kids"].categories == (0, 1, 2, 3)
    assert specs["city"].kind == "categorical" and specs["city"].categories == ("paris", "rome")
    assert specs["member"].kind == "categorical"
    assert specs["member"].categories == (False, True)
    assert specs["country"] == ColumnSpec("country", "constant", specs["country"].dtype, value="fr")
    assert specs["income"].kind == "continuous" and specs["income"].missing


def test_range_and_missing_category_recorded():
    df = pd.DataFrame({"x": [1.5, -2.0, 4.25, np.nan], "c": ["a", None, "b", "a"]})
    x, c = infer_columns(df)
    assert (x.low, x.high, x.missing) == (-2.0, 4.25, True)
    assert c.categories == ("a", "b", None) and c.missing


def test_overrides_force_the_kind():
    specs = {s.name: s for s in infer_columns(_mixed(), discrete=["age"], continuous=["kids"])}
    assert specs["age"].kind == "categorical"
    assert specs["kids"].kind == "continuous" and specs["kids"].integer


def test_override_errors_teach():
    with pytest.raises(GanforgeError, match="no column named 'nope'.*height"):
        infer_columns(_mixed(), discrete=["nope"])
    with pytest.raises(GanforgeError, match="both --discrete and --continuous"):
        infer_columns(_mixed(), discrete=["age"], continuous=["age"])
    with pytest.raises(GanforgeError, match="not numbers"):
        infer_columns(_mixed(), continuous=["city"])


def test_dates_are_refused_with_a_fix():
    df = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=5), "x": range(5)})
    with pytest.raises(GanforgeError, match="dates.*convert"):
        infer_columns(df)


def test_specs_survive_json():
    for spec in infer_columns(_mixed()):
        assert ColumnSpec.from_dict(spec.to_dict()) == spec


def test_native_values():
    assert native(np.int64(3)) == 3 and type(native(np.int64(3))) is int
    assert native(np.bool_(True)) is True
    assert native(float("nan")) is None and native(pd.NA) is None


def test_point_sets_stay_points(tmp_path):
    rng = np.random.default_rng(0)
    points = pd.DataFrame(rng.normal(size=(50, 2)), columns=["x", "y"])
    assert is_point_set(points)
    assert not is_point_set(_mixed())
    assert not is_point_set(points.assign(label=rng.integers(0, 3, 50)))  # a categorical column
    path = tmp_path / "t.csv"
    _mixed().to_csv(path, index=False)
    assert list(read_table(path).columns) == list(_mixed().columns)
    with pytest.raises(GanforgeError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
