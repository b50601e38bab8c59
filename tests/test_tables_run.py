"""Tables through the GAN facade and the command line: a mixed-type CSV end to end, the
run directory, exact resumption, conditions, evaluation with held-out rows, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import ganforge as gf
from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.tables.run import as_table, split_options

SMALL = ["--batch-size", "100", "--g-width", "64", "--d-width", "64", "--latent-dim", "16"]
SMALL_OPTIONS = dict(batch_size=100, g_width=64, d_width=64, latent_dim=16, threads=1)


def _people(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(1),
            "age": rng.integers(18, 90, n),
            "city": rng.choice(["paris", "rome", "oslo"], n, p=[0.5, 0.3, 0.2]),
            "member": rng.random(n) < 0.4,
            "kids": rng.integers(0, 3, n),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(8, 0.5, n).round(2)),
        }
    )


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_mixed_csv_through_the_cli(tmp_path, capsys):
    real = _people()
    data, run = tmp_path / "people.csv", tmp_path / "run"
    real.to_csv(data, index=False)
    argv = ["train", str(data), "--out", str(run), "--steps", "120", *SMALL]
    assert main([*argv, "--discrete", "kids", "--log-every", "40", "--quiet"]) == 0
    assert "trained on 320 of 400 rows; 80 held out" in capsys.readouterr().out

    info = json.loads((run / "config.json").read_text())
    assert info["data"]["kind"] == "table" and info["data"]["discrete"] == ["kids"]
    kinds = {c["name"]: c["kind"] for c in info["data"]["columns"]}
    assert kinds == {
        "height": "continuous",
        "age": "continuous",
        "city": "categorical",
        "member": "categorical",
        "kids": "categorical",
        "income": "continuous",
    }
    assert info["config"]["steps"] == 120 and info["config"]["holdout"] == 0.2
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").open())] == [40, 80, 120]
    with Image.open(run / "samples" / "final.png") as picture:
        assert picture.size[0] > 300
    assert (run / "losses.png").is_file()

    out = tmp_path / "rows.csv"
    assert main(["sample", str(run), "-n", "300", "-o", str(out), "--condition", "city=oslo"]) == 0
    rows = pd.read_csv(out)
    assert list(rows.columns) == list(real.columns) and len(rows) == 300
    assert (rows["city"] == "oslo").all() and rows["member"].dtype == bool
    assert rows["age"].dtype == np.int64 and rows["kids"].isin([0, 1, 2]).all()
    assert rows["age"].between(real["age"].min(), real["age"].max()).all()
    assert rows["income"].isna().any()

    report = tmp_path / "eval.json"
    assert main(["eval", str(run), "-n", "1000", "--target", "city", "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["train_rows"] == 320 and scores["holdout_rows"] == 80
    assert scores["target"] == "city" and scores["range"] == 1.0
    assert 0 <= scores["copied"] <= 1 and 0 < scores["shapes"] <= 1 and 0 < scores["pairs"] <= 1
    assert scores["dcr_ratio"] == pytest.approx(scores["dcr_synthetic"] / scores["dcr_holdout"])
    assert 0 <= scores["ml_real"] <= 1 and 0 <= scores["ml_synthetic"] <= 1
    assert main(["doctor", str(run), "--json"]) == 0


def test_bad_table_input_gets_one_line_and_keeps_files(tmp_path, capsys):
    data, run = tmp_path / "people.csv", tmp_path / "run"
    _people(200).to_csv(data, index=False)
    argv = ["train", str(data), "--out", str(run), "--steps", "20", *SMALL, "--no-clip"]
    assert main([*argv, "--no-calibrate", "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["clip"] is False and config["calibrate"] is False
    capsys.readouterr()
    kept = tmp_path / "kept.csv"
    kept.write_text("keep me\n")
    cases = [
        (["sample", str(run), "--condition", "city=tokyo"], "no category 'tokyo'"),
        (["sample", str(run), "--condition", "city"], "COLUMN=VALUE"),
        (["sample", str(run), "-o", str(tmp_path / "x.npy")], "column(s) city hold text"),
        (["sample", str(run), "-o", str(tmp_path / "x.png")], "use -o FILE.csv"),
        (["sample", str(run), "-o", str(kept)], "already exists"),
        (["train", str(data), "--loss", "hinge", "--out", str(tmp_path / "r2")], "loss"),
        (["train", "ring", "--tau", "0.3", "--out", str(tmp_path / "r3")], "--tau applies"),
        (["train", str(data), "--discrete", "nope", "--out", str(tmp_path / "r4")], "nope"),
        (["train", str(data), "--holdout", "1.5", "--out", str(tmp_path / "r5")], "--holdout"),
        (["train", str(data), "--out", str(run)], "already holds a run"),
        (["eval", str(run), "--metrics", "fd"], "unknown table metric"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
    assert kept.read_text() == "keep me\n"
    assert not any((tmp_path / f"r{i}").exists() for i in range(2, 6))
    data.write_text(data.read_text() + "180.0,40,rome,True,1,3000.0\n")
    assert main(["eval", str(run)]) == 2
    assert "changed since training" in capsys.readouterr().err


def test_resumed_run_ends_bitwise_like_an_uninterrupted_one(tmp_path):
    data = tmp_path / "people.csv"
    _people(300).to_csv(data, index=False)
    common = [str(data), *SMALL, "--log-every", "40", "--ckpt-every", "40", "--quiet"]
    assert main(["train", *common, "--steps", "200", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *common, "--steps", "120", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", *common, "--steps", "200", "--out", str(tmp_path / "b"), "--resume"]) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_000200.safetensors")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_000200.safetensors")
    for key, value in a["generator"].items():
        assert torch.equal(value, b["generator"][key]), key
    for key, value in a["discriminator"].items():
        assert torch.equal(value, b["discriminator"][key]), key

    def losses(run):
        records = map(json.loads, (tmp_path / run / "metrics.jsonl").open())
        return [(r["step"], r["d_loss"], r["g_loss"]) for r in records]

    assert losses("a") == losses("b") and len(losses("a")) == 5
    rows_a = gf.GAN.load(tmp_path / "a").sample(500, seed=3)
    pd.testing.assert_frame_equal(rows_a, gf.GAN.load(tmp_path / "b").sample(500, seed=3))


def test_gan_facade_on_a_dataframe(tmp_path):
    df = _people(300)
    gan = gf.GAN(steps=60, **SMALL_OPTIONS).fit(df, discrete_columns=["kids"])
    assert gan.is_table and not gan.is_pictures
    rows = gan.sample(200, seed=1, conditions={"city": "rome", "kids": 2})
    assert len(rows) == 200 and (rows["city"] == "rome").all() and (rows["kids"] == 2).all()
    pd.testing.assert_frame_equal(gan.sample(100, seed=5), gan.sample(100, seed=5))
    scores = gf.evaluate(gan, n=500, target="member")
    assert scores["holdout_rows"] == 60 and {"dcr_ratio", "ml_ratio"} <= set(scores)

    gan.save(tmp_path / "saved")
    again = gf.GAN.load(tmp_path / "saved")
    pd.testing.assert_frame_equal(again.sample(100, seed=5), gan.sample(100, seed=5))
    with pytest.raises(GanforgeError, match="trained on a DataFrame"):
        gf.evaluate(again)
    assert gf.evaluate(again, data=df, n=500, metrics=["shapes", "dcr"])["holdout_rows"] == 60
    with pytest.raises(GanforgeError, match="trained on 300 rows"):
        gf.evaluate(again, data=df.iloc[:200], n=500)
    with pytest.raises(GanforgeError, match="apply to tables"):
        gf.GAN("ring", steps=10).fit().sample(10, conditions={"a": 1})


def test_no_holdout_trains_on_every_row():
    gan = gf.GAN(steps=20, holdout=0, **SMALL_OPTIONS).fit(_people(100))
    assert gan.data_info_["train_rows"] == 100 and gan.data_info_["holdout_rows"] == 0
    scores = gf.evaluate(gan, n=200)
    assert "dcr_ratio" not in scores and "shapes" in scores
    with pytest.raises(GanforgeError, match="need held-out rows"):
        gf.evaluate(gan, n=200, metrics=["dcr"])


def test_numeric_point_csv_stays_points(tmp_path):
    points = tmp_path / "points.csv"
    pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)), columns=["x", "y"]).to_csv(
        points, index=False
    )
    assert as_table(points) is None
    assert isinstance(as_table(points, forced=True), pd.DataFrame)
    with pytest.raises(GanforgeError, match="apply to tables"):
        as_table("ring", forced=True)
    with pytest.raises(GanforgeError, match="CPU"):
        split_options({"device": "cuda"})
