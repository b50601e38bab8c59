"""The table synthesizer end to end: fit, sample, conditions, missing values, clipping,
determinism, eval mode, save/load and exact resumption."""

import numpy as np
import pandas as pd
import pytest
import torch

import ganforge as gf
from ganforge.errors import GanforgeError
from ganforge.tables import TableSynthesizer, preset_steps
from ganforge.tables.options import MAX_FLOOR, MAX_STEPS, MIN_STEPS, preset_width

SMALL = dict(batch_size=100, pack=5, latent_dim=16, g_width=64, d_width=64, max_modes=4)


def _table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, n)
    return pd.DataFrame(
        {
            "x": x,
            "age": rng.integers(18, 90, n),
            "city": rng.choice(["paris", "rome", "oslo"], n, p=[0.6, 0.3, 0.1]),
            "member": rng.random(n) < 0.3,
            "kids": rng.integers(0, 3, n),
            "pet": pd.Series(rng.choice(["cat", "dog", None], n, p=[0.5, 0.3, 0.2])),
            "income": np.where(rng.random(n) < 0.25, np.nan, x * 100 + rng.normal(0, 50, n)),
            "country": "fr",
        }
    )


def _fit(df, out=None, resume=False, **options):
    """The table model trained on every row of ``df`` by the training session."""
    gan = gf.GAN(df, holdout=0, **options).fit(out=out, resume=resume)
    return gan.model.synth


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    df = _table()
    return df, _fit(df, steps=300, seed=0, **SMALL)


def test_sample_has_the_tables_names_types_and_categories(fitted):
    df, synth = fitted
    rows = synth.sample(500, seed=1)
    assert list(rows.columns) == list(df.columns) and len(rows) == 500
    for name in ("age", "kids"):
        assert rows[name].dtype == np.int64
    assert rows["member"].dtype == bool and rows["x"].dtype == np.float64
    assert set(rows["city"]) <= {"paris", "rome", "oslo"}
    assert set(rows["kids"]) <= {0, 1, 2}
    assert (rows["country"] == "fr").all()


def test_same_seed_same_rows_in_eval_mode(fitted):
    _, synth = fitted
    gen = synth.row_generator
    before = {k: v.clone() for k, v in gen.state_dict().items()}
    a, b = synth.sample(300, seed=7), synth.sample(300, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert not synth.sample(300, seed=8).equals(a)
    assert gen is synth.trainer_.ema.module.generator  # the EMA copy, always in eval mode
    assert not gen.training and synth.trainer_.generator.training  # the live one untouched
    after = gen.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm stats untouched


def test_conditional_sampling_returns_only_the_asked_category(fitted):
    _, synth = fitted
    assert (synth.sample(400, seed=2, conditions={"city": "oslo"})["city"] == "oslo").all()
    rows = synth.sample(200, seed=2, conditions={"kids": "2"})  # text, as from the CLI
    assert (rows["kids"] == 2).all()
    both = synth.sample(100, seed=3, conditions={"city": "rome", "member": True})
    assert (both["city"] == "rome").all() and both["member"].all()
    with pytest.raises(GanforgeError, match="no category 'tokyo'"):
        synth.sample(10, conditions={"city": "tokyo"})
    with pytest.raises(GanforgeError, match="cannot condition on 'x'"):
        synth.sample(10, conditions={"x": 3})


def test_missing_values_at_the_real_rate(fitted):
    df, synth = fitted
    rows = synth.sample(4000, seed=4)
    for name in ("pet", "income"):
        real = df[name].isna().mean()
        # the model saw 400 rows: their rate is itself known to ±3 standard errors
        tolerance = 3 * np.sqrt(real * (1 - real) / len(df)) + 3 * np.sqrt(real / 4000)
        assert abs(rows[name].isna().mean() - real) < tolerance, name


def test_clipping_keeps_every_value_in_range(fitted):
    df, synth = fitted
    for calibrate in (True, False):
        rows = synth.sample(3000, seed=5, calibrate=calibrate)
        for s in synth.specs_:
            if s.kind == "continuous":
                v = rows[s.name].dropna()
                assert v.min() >= s.low and v.max() <= s.high, (s.name, calibrate)


def test_calibration_matches_marginals(fitted):
    df, synth = fitted
    from ganforge.tables.metrics import column_shapes

    raw = synth.sample(3000, seed=6, calibrate=False)
    calibrated = synth.sample(3000, seed=6)
    assert column_shapes(df, calibrated, synth.specs_) > column_shapes(df, raw, synth.specs_)


def test_save_load_gives_the_same_rows(fitted, tmp_path):
    _, synth = fitted
    synth.save(tmp_path / "m.safetensors")
    again = TableSynthesizer.load(tmp_path / "m.safetensors")
    pd.testing.assert_frame_equal(again.sample(200, seed=9), synth.sample(200, seed=9))


def test_resume_continues_exactly(tmp_path):
    df = _table(200)
    opts = dict(seed=3, **SMALL)
    whole = _fit(df, steps=12, **opts)
    _fit(df, out=tmp_path / "run", steps=6, **opts)  # stopped after step 6
    resumed = _fit(df, out=tmp_path / "run", resume=True, steps=12, **opts)
    assert resumed.step_ == 12
    a, b = whole.trainer_.state_dict(), resumed.trainer_.state_dict()
    for net in ("generator", "discriminator"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])
    pd.testing.assert_frame_equal(whole.sample(100, seed=1), resumed.sample(100, seed=1))


def test_steps_and_width_presets_fit_the_table():
    assert preset_steps(100, 500) == MIN_STEPS  # small tables are not under-trained
    assert preset_steps(100, 500, n_columns=10) == 1500  # 150 steps per column
    assert preset_steps(100, 500, n_columns=31) == MAX_FLOOR  # ... up to a floor of 4,000
    assert preset_steps(30_000, 500, n_columns=31) == 6000  # 100 passes over a larger one
    assert preset_steps(10**7, 500) == MAX_STEPS
    assert TableSynthesizer(**SMALL).options.steps == 0  # 0: the preset
    assert preset_width(128) == 128 and preset_width(129) == 256


def test_options_errors_teach():
    with pytest.raises(GanforgeError, match="unknown table option.*stepz.*steps"):
        TableSynthesizer(stepz=3)
    with pytest.raises(GanforgeError, match="multiple of pack"):
        _fit(_table(50), batch_size=101, pack=5)
    with pytest.raises(GanforgeError, match="not fitted"):
        TableSynthesizer().sample(3)


@pytest.mark.parametrize(
    "df",
    [
        pd.DataFrame({"a": np.linspace(0, 1, 40), "b": np.linspace(5, 2, 40) ** 2}),  # numbers
        pd.DataFrame({"c": list("xyz") * 10, "d": [True, False] * 15}),  # categories only
    ],
    ids=["continuous-only", "categorical-only"],
)
def test_tables_of_one_kind(df):
    synth = _fit(df, steps=5, seed=0, **SMALL)
    rows = synth.sample(50, seed=0)
    assert list(rows.columns) == list(df.columns) and len(rows) == 50
    assert (rows.dtypes == df.dtypes).all()
