import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from ganforge.rejection import EPS, acceptance_probability, drs_score, rejection_sample


def test_score_matches_the_paper_formula():
    logits = torch.tensor([-5.0, -1.0, -0.1, 0.0, 0.7], dtype=torch.float64)
    m = 0.7
    expected = [d - m - math.log(1 - math.exp(d - m - EPS)) for d in logits.tolist()]
    assert_close(drs_score(logits, m), torch.tensor(expected, dtype=torch.float64))


def test_gamma_zero_is_plain_rejection_sampling():
    logits = torch.linspace(-8, 2, 50, dtype=torch.float64)
    assert_close(
        acceptance_probability(logits, 2.0, gamma=0.0),
        torch.exp(logits - 2.0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_gamma_shifts_in_logit_space():
    logits = torch.tensor([-3.0, -1.0])
    p0 = acceptance_probability(logits, 0.0, 0.0)
    p1 = acceptance_probability(logits, 0.0, 1.5)
    logit = lambda p: torch.log(p / (1 - p))  # noqa: E731
    assert_close(logit(p0) - logit(p1), torch.full((2,), 1.5, dtype=torch.float64))


def test_rejection_sampling_recovers_the_target_density():
    """Proposal U[0, 1], target 2x: the exact log density ratio is log 2x, mean 2/3."""
    g = torch.Generator().manual_seed(0)

    def draw(k):
        return torch.rand(k, 1, generator=g, dtype=torch.float64)

    x = rejection_sample(
        draw, lambda x: torch.log(2 * x[:, 0]), 40_000, torch.Generator().manual_seed(1), gamma=0.0
    )
    assert x.shape == (40_000, 1)
    # standard error of the mean: sqrt(1/18 / 40000) ≈ 0.0012
    assert x.mean().item() == pytest.approx(2 / 3, abs=0.005)
    hist, _ = np.histogram(x.numpy(), bins=4, range=(0, 1), density=True)
    np.testing.assert_allclose(hist, [0.25, 0.75, 1.25, 1.75], atol=0.05)


def test_higher_quantile_keeps_more_real_looking_samples():
    def run(q):
        g = torch.Generator().manual_seed(0)
        return rejection_sample(
            lambda k: torch.randn(k, 1, generator=g),
            lambda x: -x[:, 0].abs(),
            5000,
            torch.Generator().manual_seed(1),
            quantile=q,
        )

    assert run(0.95).abs().mean() < run(0.5).abs().mean() < 0.8  # E|N(0,1)| = 0.80


def test_same_generators_same_samples():
    def run():
        g = torch.Generator().manual_seed(3)
        return rejection_sample(
            lambda k: torch.randn(k, 2, generator=g),
            lambda x: -x.square().sum(1),
            100,
            torch.Generator().manual_seed(4),
        )

    assert torch.equal(run(), run())


def test_runaway_rejection_is_an_error():
    with pytest.raises(RuntimeError, match="kept 0 of"):
        rejection_sample(
            lambda k: torch.zeros(k, 1),
            lambda x: torch.zeros(len(x)),
            10,
            torch.Generator(),
            gamma=1e9,
            max_draws=30_000,
        )
