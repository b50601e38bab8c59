from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import sequences
from ganforge.metrics.sequences import (
    acf_error,
    autocorrelation,
    discriminative_score,
    predictive_score,
    sequence_scores,
)


def ar1(rng, n, t, phi):
    """``n`` stationary AR(1) sequences of length ``t``: x_{t+1} = φ x_t + ε, ε ~ N(0, 1)."""
    x = np.empty((n, t))
    x[:, 0] = rng.normal(size=n) / math.sqrt(1 - phi**2)
    for i in range(1, t):
        x[:, i] = phi * x[:, i - 1] + rng.normal(size=n)
    return x[:, :, None]


def acf_reference(x, max_lag):
    """Mean per-sequence autocorrelation through np.correlate; constant sequences count 0."""
    n, t, d = x.shape
    out = np.zeros((max_lag, d))
    for j in range(d):
        for s in range(n):
            c = x[s, :, j] - x[s, :, j].mean()
            full = np.correlate(c, c, mode="full")[t - 1 :]  # lags 0, 1, …, t-1
            if full[0] > 0:
                out[:, j] += full[1 : max_lag + 1] / full[0]
        out[:, j] /= n
    return out


def around(rng, n, t, d, level, spread=0.05):
    """Sequences of independent values near ``level``, clipped to [0, 1]."""
    return np.clip(level + spread * rng.normal(size=(n, t, d)), 0.0, 1.0)


# Autocorrelation error ------------------------------------------------------------------------


def test_acf_error_of_identical_sets_is_zero():
    x = np.random.default_rng(0).uniform(size=(20, 16, 3))
    assert acf_error(x, x.copy()) == 0.0


def test_autocorrelation_matches_np_correlate():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(7, 12, 3))
    np.testing.assert_allclose(autocorrelation(x, 5), acf_reference(x, 5), rtol=0, atol=1e-12)
    assert autocorrelation(x).shape == (6, 3)  # default max_lag = T // 2


def test_acf_error_matches_an_independent_computation():
    rng = np.random.default_rng(2)
    real = rng.uniform(size=(9, 10, 2))
    fake = np.cumsum(rng.uniform(size=(5, 10, 2)), axis=1) / 10  # other size, smoother
    for lag in (None, 1, 9):
        k = 5 if lag is None else lag
        expected = np.abs(acf_reference(real, k) - acf_reference(fake, k)).mean()
        assert acf_error(real, fake, max_lag=lag) == pytest.approx(expected, abs=1e-6)


def test_constant_sequences_count_as_uncorrelated_not_nan():
    rng = np.random.default_rng(3)
    real = rng.uniform(size=(6, 10, 2))
    fake = real.copy()
    fake[:3] = 0.25  # half the synthetic sequences flat in every feature
    fake[3:, :, 1] = 0.7  # and the rest flat in feature 1
    acf = autocorrelation(fake, 4)
    assert np.isfinite(acf).all()
    np.testing.assert_allclose(acf[:, 1], 0.0)
    np.testing.assert_allclose(acf[:, 0], autocorrelation(real[3:], 4)[:, 0] / 2, atol=1e-12)
    assert np.isfinite(acf_error(real, fake, 4))
    assert acf_error(np.full((3, 8, 1), 0.5), np.full((4, 8, 1), 0.1)) == 0.0


def test_acf_error_of_ar1_processes_is_near_the_closed_form():
    rng = np.random.default_rng(4)
    real, fake = ar1(rng, 50, 2000, 0.9), ar1(rng, 50, 2000, 0.0)
    lags = np.arange(1, 6)
    expected = np.mean(0.9**lags)  # |0.9^k − 0| averaged over k = 1 … 5
    # mean removal biases the sample estimates by about −(1 + φ) / ((1 − φ) T) ≈ −0.01 here;
    # 50 × 2000 steps keep the noise below that
    assert acf_error(real, fake, max_lag=5) == pytest.approx(expected, abs=0.02)
    np.testing.assert_allclose(autocorrelation(real, 5)[:, 0], 0.9**lags, atol=0.025)


def test_acf_checks_its_inputs():
    x = np.zeros((4, 10, 2))
    with pytest.raises(GanforgeError, match="max_lag"):
        acf_error(x, x, max_lag=10)
    with pytest.raises(GanforgeError, match="max_lag"):
        acf_error(x, x, max_lag=0)
    with pytest.raises(GanforgeError, match="different shapes"):
        acf_error(x, np.zeros((4, 11, 2)))
    with pytest.raises(GanforgeError, match="3-D"):
        acf_error(x[0], x[0])
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(GanforgeError, match="NaN"):
        acf_error(x, bad)


# Discriminative score -------------------------------------------------------------------------


def test_separable_sets_score_near_one_half():
    rng = np.random.default_rng(5)
    real = around(rng, 200, 8, 2, 0.8)
    fake = np.zeros_like(real)
    score = discriminative_score(real, fake, iterations=50, seed=1)
    assert 0.45 <= score <= 0.5


def test_draws_of_one_distribution_score_near_zero():
    rng = np.random.default_rng(6)
    real, fake = around(rng, 1000, 8, 3, 0.5, 0.2), around(rng, 1000, 8, 3, 0.5, 0.2)
    score = discriminative_score(real, fake, iterations=100, seed=2)
    assert 0.0 <= score <= 0.1


def test_discriminative_score_is_deterministic_and_in_range():
    rng = np.random.default_rng(7)
    real, fake = around(rng, 120, 6, 2, 0.5, 0.2), around(rng, 90, 6, 2, 0.55, 0.2)
    first = discriminative_score(real, fake, iterations=40, batch_size=32, seed=3)
    assert first == discriminative_score(real, fake, iterations=40, batch_size=32, seed=3)
    for s in (4, 5):
        score = discriminative_score(real, fake, iterations=40, batch_size=32, seed=s)
        assert 0.0 <= score <= 0.5
    assert 0.0 <= first <= 0.5
    # 2 × 18 test sequences: the accuracy is a multiple of 1/36
    assert (first + 0.5) * 36 == pytest.approx(round((first + 0.5) * 36), abs=1e-9)


def test_discriminative_score_checks_its_inputs():
    x = np.zeros((10, 5, 2))
    with pytest.raises(GanforgeError, match="different shapes"):
        discriminative_score(x, np.zeros((10, 5, 3)), iterations=1)
    with pytest.raises(GanforgeError, match="iterations"):
        discriminative_score(x, x, iterations=0)
    with pytest.raises(GanforgeError, match="fewer than 2"):
        discriminative_score(x, x[:1], iterations=1)


# Predictive score -----------------------------------------------------------------------------


def copied_feature(rng, n, t):
    """Two features; feature 1 at step t + 1 is feature 0 at step t, so it is predictable."""
    x = np.empty((n, t, 2))
    x[:, :, 0] = rng.uniform(0.1, 0.9, size=(n, t))
    x[:, 0, 1] = rng.uniform(0.1, 0.9, size=n)
    x[:, 1:, 1] = x[:, :-1, 0]
    return x


def test_predictable_target_beats_the_mean_predictor():
    rng = np.random.default_rng(8)
    train, test = copied_feature(rng, 256, 10), copied_feature(rng, 256, 10)
    target = test[:, 1:, 1]
    mean_mae = np.abs(target - train[:, 1:, 1].mean()).mean()  # about 0.2 for U(0.1, 0.9)
    mae = predictive_score(train, test, iterations=600, batch_size=64, hidden=4, seed=0)
    assert 0.0 <= mae < mean_mae / 4


def test_predictive_score_uses_the_last_feature_as_target():
    # with feature 0 as target it would be unpredictable noise; feature 1 is a copy of it
    rng = np.random.default_rng(9)
    train, test = copied_feature(rng, 256, 10), copied_feature(rng, 256, 10)
    swapped = predictive_score(
        train[:, :, ::-1], test[:, :, ::-1], iterations=600, batch_size=64, hidden=4
    )
    assert swapped > 0.15


def test_predictive_score_with_one_feature():
    # each sequence holds one level, so the next value equals the current one
    rng = np.random.default_rng(10)
    levels = rng.uniform(0.1, 0.9, size=(512, 1, 1))
    train, test = np.repeat(levels[:256], 8, axis=1), np.repeat(levels[256:], 8, axis=1)
    mean_mae = np.abs(test - train.mean()).mean()
    mae = predictive_score(train, test, iterations=600, batch_size=64, hidden=4, seed=0)
    assert 0.0 <= mae < mean_mae / 4


def test_predictive_score_is_deterministic_and_in_range():
    rng = np.random.default_rng(11)
    train, test = rng.uniform(size=(50, 7, 3)), rng.uniform(size=(30, 9, 3))
    first = predictive_score(train, test, iterations=30, batch_size=16, seed=7)
    assert first == predictive_score(train, test, iterations=30, batch_size=16, seed=7)
    assert 0.0 <= first <= 1.0


# All together ---------------------------------------------------------------------------------


def small_pair(seed=12):
    rng = np.random.default_rng(seed)
    return around(rng, 80, 6, 2, 0.5, 0.2), around(rng, 80, 6, 2, 0.6, 0.1)


def test_sequence_scores_keys_and_values():
    real, fake = small_pair()
    scores = sequence_scores(real, fake, repeats=2, iterations=20)
    assert list(scores) == [
        "discriminative",
        "discriminative_se",
        "predictive",
        "predictive_se",
        "acf",
    ]
    assert all(math.isfinite(v) for v in scores.values())
    assert 0.0 <= scores["discriminative"] <= 0.5
    assert scores["discriminative_se"] >= 0.0 and scores["predictive_se"] >= 0.0
    assert scores["acf"] == acf_error(real, fake)
    assert sequence_scores(real, fake, "acf") == {"acf": scores["acf"]}


def test_sequence_scores_trains_the_predictor_on_fake_and_averages_seeded_runs():
    real, fake = small_pair()
    scores = sequence_scores(real, fake, ("predictive",), repeats=3, iterations=20, seed=4)
    runs = [
        predictive_score(fake, real, iterations=20, seed=sequences._repeat_seed(4, "predictive", r))
        for r in range(3)
    ]
    assert scores["predictive"] == pytest.approx(np.mean(runs), abs=1e-12)
    assert scores["predictive_se"] == pytest.approx(np.std(runs, ddof=1) / math.sqrt(3))
    assert len(set(runs)) == 3  # each run has its own seed
    one = sequence_scores(real, fake, ["discriminative"], repeats=1, iterations=20)
    assert set(one) == {"discriminative", "discriminative_se"}
    assert math.isnan(one["discriminative_se"])


def test_unknown_metric_names_the_valid_ones():
    real, fake = small_pair()
    message = "unknown metric 'x'; choose one of: acf, discriminative, predictive"
    with pytest.raises(GanforgeError, match=message):
        sequence_scores(real, fake, ("acf", "x"))
    with pytest.raises(GanforgeError, match="repeats"):
        sequence_scores(real, fake, repeats=0)


def test_global_random_state_is_untouched():
    real, fake = small_pair()
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first = sequence_scores(real, fake, repeats=2, iterations=10, seed=9)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    # and the global state does not change the scores either
    torch.manual_seed(0)
    assert sequence_scores(real, fake, repeats=2, iterations=10, seed=9) == first
