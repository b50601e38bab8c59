"""Tables as people have them through the command line: dates, a key, free text, decimals,
missing values and constraints from train to sample; metadata.json written and read back;
bad input as one line and exit code 2, with nothing on disk lost."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganforge.cli import main
from ganforge.tables.metadata import read_metadata

SMALL = ["--steps", "40", "--batch-size", "100", "--g-width", "32", "--d-width", "32"]


def _table(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    low = np.round(rng.normal(5, 3, n), 1)
    start = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    df = pd.DataFrame(
        {
            "order_id": [f"ORD{i:05d}" for i in range(n)],
            "placed": start.strftime("%m/%d/%Y"),
            "shipped": (start + pd.to_timedelta(rng.integers(0, 9, n), unit="D")).strftime(
                "%m/%d/%Y"
            ),
            "t_min": low,
            "t_max": np.round(low + rng.gamma(2, 2, n), 1),
            "city": rng.choice(["paris", "rome", "oslo", "lyon"], n),
            "country": "",
            "customer": [f"client {k}" for k in rng.geometric(0.02, n)],
            "weight": np.where(rng.random(n) < 0.25, np.nan, rng.gamma(3, 2, n).round(2)),
        }
    )
    df["country"] = df["city"].map({"paris": "FR", "lyon": "FR", "rome": "IT", "oslo": "NO"})
    df.to_csv(path, index=False)
    return df


def test_a_table_as_people_have_it_end_to_end(tmp_path):
    real = _table(tmp_path / "orders.csv")
    run = tmp_path / "run"
    rules = ["--constraint", "placed <= shipped", "--constraint", "t_min<t_max"]
    rules += ["--constraint", "fixed: city, country"]
    argv = ["train", str(tmp_path / "orders.csv"), "--out", str(run), *SMALL, *rules, "--quiet"]
    assert main(argv) == 0
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["primary_key"] == "order_id"
    assert meta["columns"]["placed"] == {"sdtype": "datetime", "datetime_format": "%m/%d/%Y"}
    assert meta["columns"]["customer"]["sdtype"] == "categorical"
    out = tmp_path / "rows.csv"
    assert main(["sample", str(run), "-n", "500", "-o", str(out), "--seed", "3"]) == 0
    rows = pd.read_csv(out)
    assert list(rows.columns) == list(real.columns) and len(rows) == 500
    assert rows["order_id"].is_unique and rows["order_id"].str.match(r"^ORD\d{5}$").all()
    placed = pd.to_datetime(rows["placed"], format="%m/%d/%Y")
    shipped = pd.to_datetime(rows["shipped"], format="%m/%d/%Y")
    assert (placed <= shipped).all()
    low, high = pd.to_datetime(real["placed"], format="%m/%d/%Y").agg(["min", "max"])
    assert placed.between(low, high).all()
    assert (rows["t_min"] < rows["t_max"]).all()
    assert (rows["t_max"] == rows["t_max"].round(1)).all()
    assert (rows["weight"].dropna() == rows["weight"].dropna().round(2)).all()
    assert 0.1 < rows["weight"].isna().mean() < 0.4
    seen = set(zip(real["city"], real["country"], strict=True))
    assert set(zip(rows["city"], rows["country"], strict=True)) <= seen
    assert rows["customer"].isin(set(real["customer"])).all()
    report = tmp_path / "eval.json"
    assert main(["eval", str(run), "-n", "500", "--metrics", "quality", "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert 0 < scores["quality_shapes"] <= 1 and 0 < scores["quality"] <= 1
    # the written metadata, read back, fixes the kinds of a new run
    again = tmp_path / "again"
    argv = ["train", str(tmp_path / "orders.csv"), "--out", str(again), *SMALL, "--quiet"]
    assert main([*argv, "--metadata", str(run / "metadata.json")]) == 0
    assert read_metadata(again / "metadata.json") == read_metadata(run / "metadata.json")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--datetime", "city"], "is not a date in a known format"),
        (["--key", "city"], "duplicated values"),
        (["--constraint", "t_max <= t_min"], "broken by 300 of 300 rows"),
        (["--key", "dup"], "1 duplicated values"),  # a key unique in neither part of a split
        (["--constraint", "t_min <= nowhere"], "nowhere"),
        (["--constraint", "t_min ~ t_max"], "constraint"),
        (["--metadata", "missing.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_lost(tmp_path, capsys, flags, message):
    df = _table(tmp_path / "orders.csv")
    df["dup"] = np.arange(len(df))
    df.loc[7, "dup"] = 250  # rows 7 and 250 share it: the 20 % split may part them
    df.to_csv(tmp_path / "orders.csv", index=False)
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    argv = ["train", str(tmp_path / "orders.csv"), "--out", str(run), "--overwrite", *SMALL]
    assert main([*argv, *flags]) == 2  # counted on every row, before the split
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert sorted(p.name for p in run.iterdir()) == ["keep.txt"]


def test_an_all_missing_column_is_refused(tmp_path, capsys):
    df = _table(tmp_path / "orders.csv").assign(note=np.nan)
    df.to_csv(tmp_path / "orders.csv", index=False)
    argv = ["train", str(tmp_path / "orders.csv"), "--out", str(tmp_path / "run"), *SMALL]
    assert main(argv) == 2
    assert "column 'note' has no values" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
