"""A mixed-type CSV end to end: read, fit, sample with a condition, write, read back; and
the helpers behind the command line's table options."""

import numpy as np
import pandas as pd
import pytest

import ganforge as gf
from ganforge.errors import GanforgeError
from ganforge.tables import (
    TableSynthesizer,
    parse_columns,
    parse_conditions,
    read_table,
    write_table,
)


def _csv(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(1),
            "age": rng.integers(18, 90, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "member": rng.random(n) < 0.4,
            "kids": rng.integers(0, 3, n),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(8, 0.5, n).round(2)),
        }
    )
    df.to_csv(path, index=False)
    return df


def test_parse_columns_and_conditions():
    assert parse_columns(" a, b ,,c ") == ["a", "b", "c"]
    assert parse_columns(None) == []
    assert parse_conditions(["city=rome", "kids = 2"]) == {"city": "rome", "kids": "2"}
    with pytest.raises(GanforgeError, match="COLUMN=VALUE"):
        parse_conditions(["city"])
    with pytest.raises(GanforgeError, match="given twice"):
        parse_conditions(["a=1", "a=2"])


def test_mixed_csv_end_to_end(tmp_path):
    real = _csv(tmp_path / "data.csv")
    df = read_table(tmp_path / "data.csv")
    gan = gf.GAN(df, steps=60, batch_size=100, g_width=64, d_width=64, seed=0, holdout=0)
    synth = gan.fit(discrete_columns=parse_columns("kids"), continuous_columns=[]).model.synth
    synth.save(tmp_path / "model.safetensors")
    again = TableSynthesizer.load(tmp_path / "model.safetensors")
    rows = again.sample(200, seed=1, conditions=parse_conditions(["city=oslo"]))
    write_table(rows, tmp_path / "out.csv")
    back = pd.read_csv(tmp_path / "out.csv")
    assert list(back.columns) == list(real.columns) and len(back) == 200
    assert (back["city"] == "oslo").all()
    assert back["age"].dtype == np.int64 and back["kids"].isin([0, 1, 2]).all()
    assert back["member"].dtype == bool
    assert (
        back["income"].isna().any()
        and back["income"].dropna().between(real["income"].min(), real["income"].max()).all()
    )
    with pytest.raises(GanforgeError, match=r"\.csv"):
        write_table(rows, tmp_path / "out.npy")


def test_numeric_rows_as_a_float_array(tmp_path):
    df = pd.DataFrame({"a": [1.5, np.nan], "b": [True, False], "n": [3, 4]})
    write_table(df, tmp_path / "rows.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "rows.npy"), [[1.5, 1, 3], [np.nan, 0, 4]])
    write_table(df, tmp_path / "rows.npz")
    assert np.load(tmp_path / "rows.npz")["x"].shape == (2, 3)
    with pytest.raises(GanforgeError, match="column"):
        write_table(df.assign(c=["x", "y"]), tmp_path / "text.npy")
