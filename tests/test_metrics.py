import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import (
    RunningStats,
    classifier_score,
    frechet_distance,
    frechet_from_stats,
    gaussian_stats,
    kid,
    label_stats,
    prdc,
)
from ganforge.metrics import distances as distances_module


def correlated(rng, n, d, scale=1.0, offset=0.0):
    """Gaussian samples with a random full covariance."""
    mixing = rng.normal(size=(d, d)) * scale / math.sqrt(d)
    return rng.normal(size=(n, d)) @ mixing + offset


def frechet_reference(a, b):
    """FID through scipy's general matrix square root."""
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


# Fréchet distance ---------------------------------------------------------------------------


def test_frechet_of_a_shifted_copy_is_the_squared_shift():
    rng = np.random.default_rng(0)
    a = correlated(rng, 400, 12)
    shift = rng.normal(size=12)
    expected = float(shift @ shift)
    assert frechet_distance(a, a + shift) == pytest.approx(expected, rel=1e-9)


def test_frechet_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(1)
    a = correlated(rng, 300, 32, scale=5.0, offset=3.0)
    scale = np.trace(np.cov(a, rowvar=False))
    value = frechet_distance(a, a)
    assert 0.0 <= value <= 1e-8 * scale


@pytest.mark.parametrize("d", [2, 16, 64])
def test_frechet_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    a = correlated(rng, 500, d, scale=1.0)
    b = correlated(rng, 700, d, scale=1.5, offset=0.3)
    expected = frechet_reference(a, b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-6)


def test_frechet_is_symmetric():
    rng = np.random.default_rng(2)
    a, b = correlated(rng, 200, 10), correlated(rng, 300, 10, scale=2.0, offset=-1.0)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-10)


@pytest.mark.parametrize(
    ("mu1", "sd1", "mu2", "sd2"),
    [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 1e-3, 3.0, 7.0)],
)
def test_frechet_from_stats_one_dimensional_closed_form(mu1, sd1, mu2, sd2):
    expected = (mu1 - mu2) ** 2 + (sd1 - sd2) ** 2
    assert frechet_from_stats(mu1, sd1**2, mu2, sd2**2) == pytest.approx(expected, abs=1e-12)
    as_arrays = frechet_from_stats(np.array([mu1]), np.array([[sd1**2]]), [mu2], [[sd2**2]])
    assert as_arrays == pytest.approx(expected, abs=1e-12)


def test_frechet_from_stats_diagonal_closed_form():
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 4.0, 1.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    value = frechet_from_stats(mu1, np.diag(var1), mu2, np.diag(var2))
    assert value == pytest.approx(expected, rel=1e-12)


def test_gaussian_stats_use_ddof_one():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 4))
    mu, sigma = gaussian_stats(a)
    np.testing.assert_allclose(mu, a.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(a, rowvar=False, ddof=1), rtol=1e-12)


def test_running_stats_match_numpy_over_uneven_batches():
    rng = np.random.default_rng(4)
    data = correlated(rng, 1000, 20, scale=3.0, offset=500.0)
    stats = RunningStats()
    edges = [0, 1, 7, 7, 300, 301, 650, 1000]  # includes a batch of one and an empty batch
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        batch = data[lo:hi]
        stats.update(torch.from_numpy(batch) if lo == 7 else batch)
    assert stats.n == 1000
    np.testing.assert_allclose(stats.mean, data.mean(axis=0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        stats.cov, np.cov(data, rowvar=False, ddof=1), rtol=1e-10, atol=1e-10
    )
    other = correlated(rng, 800, 20)
    streamed = frechet_from_stats(stats.mean, stats.cov, *gaussian_stats(other))
    assert streamed == pytest.approx(frechet_distance(data, other), rel=1e-9)


def test_running_stats_errors():
    stats = RunningStats()
    with pytest.raises(GanforgeError, match="no samples"):
        _ = stats.mean
    stats.update(np.ones((1, 3)))
    with pytest.raises(GanforgeError, match="at least 2"):
        _ = stats.cov
    with pytest.raises(GanforgeError, match="earlier batches had 3"):
        stats.update(np.ones((2, 4)))


def test_frechet_rank_deficient_covariances_stay_finite():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(10, 50)), rng.normal(size=(12, 50)) + 0.2
    value = frechet_distance(a, b)
    assert math.isfinite(value) and value >= 0.0
    self_value = frechet_distance(a, a)
    assert math.isfinite(self_value) and 0.0 <= self_value <= 1e-6 * np.trace(np.cov(a.T))
    shift = np.full(50, 0.1)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-4)


def test_frechet_accepts_torch_tensors():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(70, 3))
    expected = frechet_distance(a, b)
    tensors = torch.from_numpy(a).float().requires_grad_(), torch.from_numpy(b).float()
    assert frechet_distance(*tensors) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("metric", [frechet_distance, kid, prdc])
@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((10, 3)), np.zeros((10, 4)), "feature dimensions differ"),
        (np.zeros((1, 3)), np.zeros((10, 3)), "fewer than 2"),
        (np.zeros((10, 3)), np.full((10, 3), np.nan), "NaN or Inf"),
        (np.zeros(10), np.zeros(10), "2-D"),
        ([["a", "b"], ["c", "d"]], np.zeros((2, 2)), "not numeric"),
    ],
)
def test_feature_errors(metric, a, b, message):
    with pytest.raises(GanforgeError, match=message):
        metric(a, b)


def test_frechet_from_stats_errors():
    with pytest.raises(GanforgeError, match="feature dimensions differ"):
        frechet_from_stats(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(GanforgeError, match="shape"):
        frechet_from_stats(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(GanforgeError, match="NaN or Inf"):
        frechet_from_stats(np.zeros(2), np.diag([np.inf, 1.0]), np.zeros(2), np.eye(2))


# KID ----------------------------------------------------------------------------------------


def kernel(x, y):
    return (sum(p * q for p, q in zip(x, y, strict=True)) / len(x) + 1.0) ** 3


def mmd_double_loop(a, b):
    m = len(a)
    xx = sum(kernel(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(kernel(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kernel(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_a_double_loop_on_a_tiny_set():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) * 1.5 + 0.5
    expected = mmd_double_loop(a.tolist(), b.tolist())
    # subset_size == len(a) == len(b): every subset is a reordering of the full sets
    mean, std = kid(a, b, subsets=4, subset_size=6)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert 0.0 <= std <= 1e-12 * abs(expected)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    subsets = 50
    mean, std = kid(a, b, subsets=subsets, subset_size=200)
    assert std > 0
    # With 4000 samples and subsets of 200, the full-sample estimate that the subset mean
    # converges to has a spread (~std/20) well below the subset noise std/sqrt(50).
    assert abs(mean) < 3 * std / math.sqrt(subsets)
    shifted_mean, shifted_std = kid(a, b + 0.5, subsets=subsets, subset_size=200)
    assert shifted_mean > 0.1 and shifted_mean > 10 * shifted_std / math.sqrt(subsets)


def test_kid_is_unbiased_over_repeated_draws():
    rng = np.random.default_rng(9)
    n, reps = 15, 400
    unbiased, biased = [], []
    for _ in range(reps):
        a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
        unbiased.append(kid(a, b, subsets=1, subset_size=n)[0])
        k_xx, k_yy, k_xy = ((p @ q.T / 2 + 1) ** 3 for p, q in ((a, a), (b, b), (a, b)))
        biased.append(k_xx.mean() + k_yy.mean() - 2 * k_xy.mean())
    standard_error = np.std(unbiased) / math.sqrt(reps)
    assert abs(np.mean(unbiased)) < 3 * standard_error
    # the estimator including the diagonal would fail the same check by far
    assert np.mean(biased) > 10 * standard_error


def test_kid_caps_subset_size():
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(10, 4)), rng.normal(size=(8, 4))
    assert kid(a, b, subsets=5, subset_size=1000, seed=3) == kid(
        a, b, subsets=5, subset_size=8, seed=3
    )
    assert kid(a, b, subsets=5, subset_size=5, seed=3) != kid(
        a, b, subsets=5, subset_size=8, seed=3
    )


def test_kid_argument_errors():
    a = np.zeros((5, 2))
    with pytest.raises(GanforgeError, match="subsets must be an integer ≥ 1"):
        kid(a, a, subsets=0)
    with pytest.raises(GanforgeError, match="subset_size must be an integer ≥ 2"):
        kid(a, a, subset_size=1)


# PRDC ---------------------------------------------------------------------------------------


def sq_dist(x, y):
    total = 0.0
    for p, q in zip(x, y, strict=True):
        total += (p - q) * (p - q)
    return total


def prdc_brute_force(real, fake, k):
    real, fake = real.tolist(), fake.tolist()

    def kth_radius(points, i):
        return sorted(sq_dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]

    r_real = [kth_radius(real, i) for i in range(len(real))]
    r_fake = [kth_radius(fake, j) for j in range(len(fake))]
    precision = recall = density = coverage = 0
    for y in fake:
        inside = [sq_dist(y, x) < r_real[i] for i, x in enumerate(real)]
        precision += any(inside)
        density += sum(inside)
    for i, x in enumerate(real):
        recall += any(sq_dist(x, y) < r_fake[j] for j, y in enumerate(fake))
        coverage += any(sq_dist(x, y) < r_real[i] for y in fake)
    return {
        "precision": precision / len(fake),
        "recall": recall / len(real),
        "density": density / (k * len(fake)),
        "coverage": coverage / len(real),
    }


def tie_heavy_sets(rng):
    """Sets that share points and hold duplicates, so many distances tie exactly."""
    real = rng.normal(size=(14, 3))
    real[5] = real[2]
    fake = np.concatenate([real[:6], rng.normal(size=(9, 3)) * 1.3])
    fake[10] = fake[9]
    return real, fake


@pytest.mark.parametrize("case", ["random", "ties", "grid"])
def test_prdc_matches_brute_force(case):
    rng = np.random.default_rng(11)
    if case == "random":
        real, fake = rng.normal(size=(12, 2)), rng.normal(size=(15, 2)) * 0.8 + 0.3
    elif case == "ties":
        real, fake = tie_heavy_sets(rng)
    else:
        real, fake = rng.integers(0, 4, size=(16, 2)) * 0.1, rng.integers(1, 5, size=(13, 2)) * 0.1
    expected = prdc_brute_force(real, fake, k=3)
    assert prdc(real, fake, k=3) == expected


def test_prdc_identical_sets():
    rng = np.random.default_rng(12)
    tiny = rng.normal(size=(9, 2)) * 3.7 + 1.1
    expected = prdc_brute_force(tiny, tiny.copy(), k=3)
    assert prdc(tiny, tiny.copy(), k=3) == expected
    assert expected["density"] == 1.0  # no ties: k - 1 strict neighbours plus the point itself
    points = rng.normal(size=(300, 16)) * 10 + 100
    result = prdc(points, points.copy(), k=5)
    assert result == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}


def test_prdc_far_apart_sets_score_zero():
    rng = np.random.default_rng(13)
    real, fake = rng.normal(size=(50, 4)), rng.normal(size=(40, 4)) + 1000.0
    assert prdc(real, fake, k=5) == {
        "precision": 0.0,
        "recall": 0.0,
        "density": 0.0,
        "coverage": 0.0,
    }


def test_prdc_blocks_and_fast_path_agree_with_exact_path(monkeypatch):
    rng = np.random.default_rng(14)
    real = rng.normal(size=(120, 6))
    fake = np.concatenate([real[:40] + 0.0, rng.normal(size=(90, 6)) * 1.2])
    default = prdc(real, fake, k=4)
    monkeypatch.setattr(distances_module, "_BLOCK", 37)
    assert prdc(real, fake, k=4) == default
    monkeypatch.setattr(
        distances_module, "_tolerance", lambda xn, yn, d: np.full((len(xn), len(yn)), 1e300)
    )
    assert prdc(real, fake, k=4) == default


def test_prdc_k_must_be_below_the_sample_counts():
    a, b = np.random.default_rng(15).normal(size=(2, 6, 2))
    assert set(prdc(a, b, k=5)) == {"precision", "recall", "density", "coverage"}
    with pytest.raises(GanforgeError, match="lower k"):
        prdc(a, b, k=6)
    with pytest.raises(GanforgeError, match="lower k"):
        prdc(a, b[:4], k=4)
    with pytest.raises(GanforgeError, match="k must be an integer"):
        prdc(a, b, k=0)


# classifier score ---------------------------------------------------------------------------


def test_classifier_score_of_evenly_spread_one_hot_predictions_is_k():
    k = 10
    probs = np.eye(k)[np.repeat(np.arange(k), 7)]
    assert classifier_score(probs) == pytest.approx(k, rel=1e-14)
    assert classifier_score(torch.from_numpy(probs).float()) == pytest.approx(k, rel=1e-6)


def test_classifier_score_of_identical_rows_is_one():
    row = np.array([0.1, 0.2, 0.3, 0.4])
    assert classifier_score(np.tile(row, (25, 1))) == pytest.approx(1.0, abs=1e-14)


def test_classifier_score_two_class_example():
    # p(y) = (3/4, 1/4); KL of row 1 = log(4/3), of row 2 = log(4/3) / 2; mean = 3/4 log(4/3)
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert classifier_score(probs) == pytest.approx((4 / 3) ** 0.75, rel=1e-14)


def test_classifier_score_accepts_float32_softmax():
    logits = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(logits, dim=1)
    assert classifier_score(probs) == pytest.approx(classifier_score(probs.double()), rel=1e-5)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (np.array([[2.0, -1.0], [0.5, 0.5]]), "softmax"),
        (np.array([[0.5, 0.4], [0.5, 0.5]]), "row sum off 1"),
        (np.array([[np.nan, 1.0]]), "NaN or Inf"),
        (np.array([0.5, 0.5]), "2-D"),
    ],
)
def test_classifier_score_errors(probs, message):
    with pytest.raises(GanforgeError, match=message):
        classifier_score(probs)


# label statistics ---------------------------------------------------------------------------


def test_label_stats_uniform():
    stats = label_stats(np.tile(np.arange(5), 4), 5)
    assert stats["classes"] == 5
    assert stats["kl"] == pytest.approx(0.0, abs=1e-15)
    assert stats["shares"] == [0.2] * 5


def test_label_stats_single_class():
    stats = label_stats(torch.full((9,), 2), 4)
    assert stats == {"classes": 1, "kl": pytest.approx(math.log(4)), "shares": [0, 0, 1, 0]}


def test_label_stats_hand_example():
    stats = label_stats([0, 0, 0, 1], 3)
    expected_kl = 0.75 * math.log(0.75 * 3) + 0.25 * math.log(0.25 * 3)
    assert stats["classes"] == 2
    assert stats["kl"] == pytest.approx(expected_kl, rel=1e-14)
    assert stats["shares"] == [0.75, 0.25, 0.0]


@pytest.mark.parametrize(
    ("labels", "n_classes", "message"),
    [
        ([0, 3], 3, "outside"),
        ([-1, 0], 3, "outside"),
        ([0.5, 1], 3, "whole numbers"),
        ([], 3, "non-empty"),
        ([[0, 1]], 3, "1-D"),
        ([0, 1], 0, "n_classes"),
    ],
)
def test_label_stats_errors(labels, n_classes, message):
    with pytest.raises(GanforgeError, match=message):
        label_stats(labels, n_classes)
