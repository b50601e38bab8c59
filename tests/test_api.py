import numpy as np
import pytest
import torch

import ganforge as gf
from ganforge.errors import GanforgeError
from ganforge.metrics import mode_stats

FAST = {
    "steps": 60,
    "g_width": 32,
    "d_width": 32,
    "batch_size": 64,
    "eval_every": 0,
    "sample_every": 0,
    "log_every": 20,
}


def test_init_only_stores_arguments():
    gan = gf.GAN("nonexistent.npy", steps=-5, loss="bogus")
    assert gan.data == "nonexistent.npy" and gan.options == {"steps": -5, "loss": "bogus"}


def test_unknown_option_is_named():
    with pytest.raises(GanforgeError, match="unknown option.*lr_gen"):
        gf.GAN("ring", lr_gen=1.0).fit()


def test_save_load_round_trip_gives_identical_samples(tmp_path):
    gan = gf.GAN("ring", ema_decay=0.9, **FAST).fit()
    gan.save(tmp_path / "run")
    loaded = gf.GAN.load(tmp_path / "run")
    np.testing.assert_array_equal(gan.sample(500, seed=3), loaded.sample(500, seed=3))
    np.testing.assert_array_equal(gan.sample(10), loaded.sample(10))
    assert not np.array_equal(gan.sample(10, seed=1), gan.sample(10, seed=2))
    with pytest.raises(GanforgeError, match="already holds a run"):
        gan.save(tmp_path / "run")


def test_same_seed_same_model():
    a = gf.GAN("grid", seed=4, **FAST).fit().sample(100)
    b = gf.GAN("grid", seed=4, **FAST).fit().sample(100)
    c = gf.GAN("grid", seed=5, **FAST).fit().sample(100)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sample_edge_format_and_errors():
    gan = gf.GAN("ring", **FAST).fit()
    x = gan.sample(7)
    assert x.dtype == np.float32 and x.shape == (7, 2)
    with pytest.raises(GanforgeError, match="at least 1"):
        gan.sample(0)
    with pytest.raises(GanforgeError, match="not fitted"):
        gf.GAN("ring").sample(3)


def test_fit_array_in_memory_with_batch_check():
    x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    gan = gf.GAN(**{**FAST, "steps": 5}).fit(x)
    assert gan.sample(4).shape == (4, 3)
    with pytest.raises(GanforgeError, match="larger than the data"):
        gf.GAN(**{**FAST, "batch_size": 200}).fit(x)


def test_fit_with_run_directory_and_resume(tmp_path):
    out = tmp_path / "run"
    full = gf.GAN("ring", **{**FAST, "ckpt_every": 20}).fit(out=tmp_path / "full")
    first = gf.GAN("ring", **{**FAST, "steps": 40, "ckpt_every": 20}).fit(out=out)
    assert first.trainer_.num_steps == 40
    resumed = gf.GAN("ring", **{**FAST, "ckpt_every": 20}).fit(out=out, resume=True)
    assert resumed.trainer_.num_steps == 60
    for a, b in zip(
        full.trainer_.generator.state_dict().values(),
        resumed.trainer_.generator.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    steps = [r["step"] for r in resumed_records(out)]
    assert steps == [20, 40, 60]
    with pytest.raises(GanforgeError, match="different configuration.*lr_g"):
        gf.GAN("ring", **{**FAST, "lr_g": 0.5}).fit(out=out, resume=True)


def resumed_records(out):
    from ganforge.run import RunDir

    return RunDir(out).read_metrics()


def test_short_ring_training_finds_all_modes():
    """A seeded 2-D run of the ring preset, shortened, covers the 8 modes."""
    gan = gf.GAN("ring", steps=1500, seed=0, eval_every=0, sample_every=0).fit()
    stats = mode_stats(gan.sample(2500), "ring")
    assert stats["modes"] == 8, stats


def test_user_mixture_with_generic_defaults_finds_all_modes(tmp_path):
    """A user's own .npy of another mixture: 6 modes in 3-D, generic defaults only."""
    rng = np.random.default_rng(0)
    means = rng.uniform(-5, 5, size=(6, 3))
    x = means[rng.integers(0, 6, 6000)] + 0.1 * rng.normal(size=(6000, 3))
    np.save(tmp_path / "mine.npy", x.astype(np.float32))
    gan = gf.GAN(str(tmp_path / "mine.npy"), steps=1500, eval_every=0, sample_every=0).fit()
    stats = mode_stats(gan.sample(2500), means, std=0.1)
    assert stats["modes"] == 6, stats


def test_drs_sampling_is_an_option_and_seeded():
    gan = gf.GAN("ring", **FAST).fit()
    plain = gan.sample(300, seed=1)
    drs = gan.sample(300, seed=1, drs=True)
    assert drs.shape == (300, 2) and not np.array_equal(plain, drs)
    np.testing.assert_array_equal(drs, gan.sample(300, seed=1, drs=True))
    packed = gf.GAN("ring", **{**FAST, "pack": 2, "steps": 2}).fit()
    with pytest.raises(GanforgeError, match="pack 1"):
        packed.sample(10, drs=True)


def test_lr_schedule_reaches_zero_at_the_last_step():
    gan = gf.GAN("ring", lr_schedule="linear", lr_decay_start=0.5, **FAST).fit()
    assert gan.trainer_.g_optimizer.param_groups[0]["lr"] == 0.0
    assert gan.trainer_.d_optimizer.param_groups[0]["lr"] == 0.0
