import math

import numpy as np
import pytest
import torch

from ganforge.data import load_data
from ganforge.data.toy import GaussianMixture, grid, ring
from ganforge.errors import GanforgeError
from ganforge.metrics import mode_stats, true_width


def test_ring_means_and_std_match_the_spec():
    m = ring()
    i = np.arange(8)
    expected = np.stack([np.cos(2 * np.pi * i / 8), np.sin(2 * np.pi * i / 8)], axis=1)
    np.testing.assert_allclose(m.means, expected, atol=1e-15)
    assert m.std == 0.01


def test_grid_means_and_std_match_the_spec():
    m = grid()
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(p) for p in m.means.tolist()} == expected
    assert m.std == 0.05


def test_samples_have_the_mixture_spread():
    m = grid()
    x = m.sample(50_000, torch.Generator().manual_seed(0)).numpy().astype(np.float64)
    nearest = m.means[np.argmin(((x[:, None] - m.means[None]) ** 2).sum(-1), axis=1)]
    resid = x - nearest
    assert resid.std() == pytest.approx(0.05, rel=0.02)
    mean, std = m.moments()
    np.testing.assert_allclose(x.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(x.std(0), std, rtol=0.02)


def test_true_samples_score_the_published_limit():
    for name, k in (("ring", 8), ("grid", 25)):
        x = load_data(name, seed=3).mixture.sample(2500, torch.Generator().manual_seed(3))
        s = mode_stats(x, name)
        assert s["modes"] == k
        # the share of a 2-D Gaussian within 3σ is 1 - exp(-9/2) = 98.89 %
        assert s["hq"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.6)
        assert s["rkl"] < 0.02
        assert s["width"] == pytest.approx(true_width(2), abs=0.03)


def test_true_width_closed_forms():
    # two dimensions: P(χ²_4 < 9) = 1 - e^(-9/2)(1 + 9/2), P(χ²_2 < 9) = 1 - e^(-9/2)
    e = math.exp(-4.5)
    assert true_width(2) == pytest.approx(math.sqrt((1 - 5.5 * e) / (1 - e)), rel=1e-12)
    assert true_width() == true_width(2)
    # one dimension: P(χ²_1 < 9) = erf(3/√2), P(χ²_3 < 9) = that - 3·√(2/π)·e^(-9/2)
    inside = math.erf(3 / math.sqrt(2))
    expected = math.sqrt((inside - 3 * math.sqrt(2 / math.pi) * e) / inside)
    assert true_width(1) == pytest.approx(expected, rel=1e-12)


def test_width_of_many_true_samples_converges_to_the_closed_form():
    x = grid().sample(200_000, torch.Generator().manual_seed(0))
    assert mode_stats(x, "grid")["width"] == pytest.approx(true_width(2), abs=0.004)
    # modes drawn at 0.8 of the data's width: HQ cuts them at 3/0.8 of their own σ
    m, c = grid(), (3 / 0.8) ** 2
    thin = m.means[np.arange(200_000) % 25] + 0.8 * m.std * np.random.default_rng(0).normal(
        size=(200_000, 2)
    )
    e = math.exp(-c / 2)
    expected = 0.8 * math.sqrt((1 - e * (1 + c / 2)) / (1 - e))
    assert mode_stats(thin, m)["width"] == pytest.approx(expected, abs=0.004)


def test_mode_stats_closed_form_on_placed_points():
    m = ring()
    # 3 points on mode 0, 1 on mode 1, 1 at 4σ from mode 2 (not HQ), 1 far away
    pts = np.array([m.means[0]] * 3 + [m.means[1], m.means[2] + [0.04, 0.0], [5.0, 5.0]])
    s = mode_stats(pts, "ring")
    assert s["modes"] == 2
    assert s["hq"] == pytest.approx(100 * 4 / 6)
    p = np.array([0.75, 0.25])
    assert s["rkl"] == pytest.approx(float((p * np.log(p * 8)).sum()))
    assert s["width"] == 0.0  # every HQ sample sits on its mode's centre


def test_mode_width_closed_form_on_placed_points():
    means = np.zeros((1, 2))
    # offsets (σ, 0) and (0, 2σ) are HQ, (3σ, 1σ) is not: mean square per coordinate 5/4
    s = mode_stats(np.array([[0.5, 0.0], [0.0, 1.0], [1.5, 0.5]]), means, std=0.5)
    assert s["hq"] == pytest.approx(100 * 2 / 3)
    assert s["width"] == pytest.approx(math.sqrt(5 / 4))


def test_mode_stats_with_means_and_std_in_higher_dimension():
    means = np.eye(3) * 10
    pts = means + 0.1
    s = mode_stats(pts, means, std=0.1)  # distance √3 σ < 3σ
    assert s == {
        "modes": 3,
        "hq": 100.0,
        "rkl": pytest.approx(0.0, abs=1e-12),
        "width": pytest.approx(1.0),  # every coordinate 1σ off
    }


def test_mode_stats_nothing_high_quality():
    s = mode_stats(np.full((10, 2), 9.0), "ring")
    assert s["modes"] == 0 and s["hq"] == 0.0 and math.isnan(s["rkl"]) and math.isnan(s["width"])


def test_mode_stats_bad_input():
    with pytest.raises(GanforgeError, match="choose one of: ring, grid"):
        mode_stats(np.zeros((3, 2)), "spiral")
    with pytest.raises(GanforgeError, match="needs std"):
        mode_stats(np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(GanforgeError, match=r"shape \(N, 2\)"):
        mode_stats(np.zeros((3, 3)), "ring")


def test_mixture_source_is_seeded_and_standardised():
    a, b = load_data("ring", seed=5), load_data("ring", seed=5)
    assert torch.equal(a.batch(64), b.batch(64))
    x = load_data("grid", seed=0).batch(50_000)
    np.testing.assert_allclose(x.mean(0).numpy(), 0.0, atol=0.03)
    np.testing.assert_allclose(x.std(0).numpy(), 1.0, atol=0.02)


def test_custom_mixture_sampling():
    m = GaussianMixture(np.array([[0.0, 0.0, 0.0]]), 2.0)
    x = m.sample(20_000, torch.Generator().manual_seed(0))
    assert x.shape == (20_000, 3)
    assert x.std().item() == pytest.approx(2.0, rel=0.02)
