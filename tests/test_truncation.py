"""Jacobian-based truncation: the norms against closed forms, the rule for which latents are
kept, and sampling with it through the library and the CLI."""

import numpy as np
import pytest
import torch
from torch import nn

import ganforge as gf
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.trainer import evaluating
from ganforge.truncation import EXACT_MAX, draws_needed, jacobian_norms, truncate


class Square(nn.Module):
    """``(z0, z1) ↦ (z0², 3 z1)``: Jacobian diag(2 z0, 3), Frobenius norm √(4 z0² + 9)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.stack([z[:, 0] ** 2, 3 * z[:, 1]], 1)


def _latents(n: int, dim: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def test_exact_norms_match_the_closed_form():
    z = _latents(50)
    expected = (4 * z[:, 0].double() ** 2 + 9).sqrt()
    torch.testing.assert_close(jacobian_norms(Square(), z), expected, rtol=1e-6, atol=0)


def test_exact_norms_of_a_wide_output_up_to_the_limit():
    # a linear map with EXACT_MAX outputs: every row's norm is that of the matrix
    a = torch.randn(EXACT_MAX, 5, generator=torch.Generator().manual_seed(1))
    norms = jacobian_norms(lambda z: z @ a.T, _latents(4, 5))
    torch.testing.assert_close(
        norms, torch.full((4,), a.double().norm().item(), dtype=torch.float64), rtol=1e-6, atol=0
    )


def test_the_probe_estimate_is_unbiased_for_a_linear_map():
    # more outputs than EXACT_MAX: Hutchinson's E‖Aᵀv‖² = ‖A‖_F²; with 4,000 probes in all
    # (500 rows × 8) the mean of the squared estimates is within a few per cent
    a = torch.randn(3 * EXACT_MAX, 6, generator=torch.Generator().manual_seed(2))
    rng = torch.Generator().manual_seed(3)
    norms = jacobian_norms(lambda z: z @ a.T, _latents(500, 6), probes=8, rng=rng)
    assert norms.pow(2).mean().item() == pytest.approx(a.double().norm().item() ** 2, rel=0.05)
    # each row's estimate varies around the true norm (they are not all equal)
    assert norms.std().item() > 0


def test_truncate_keeps_the_flattest_latents_in_their_order():
    z = _latents(100)
    kept = truncate(Square(), z, 80)
    # the norm rises with |z0|: the 20 latents of largest |z0| are the ones dropped
    dropped = z[:, 0].abs().argsort()[80:]
    mask = torch.ones(100, dtype=torch.bool)
    mask[dropped] = False
    assert torch.equal(kept, z[mask])


def test_truncate_with_nothing_to_drop_returns_the_latents():
    z = _latents(10)
    assert truncate(Square(), z, 10) is z


@pytest.mark.parametrize(("n", "share", "draws"), [(100, 0.0, 100), (100, 0.2, 125), (3, 0.5, 6)])
def test_draws_needed(n, share, draws):
    assert draws_needed(n, share) == draws
    assert draws - draws * share >= n - 1e-9


def test_norms_leave_the_generator_untouched():
    g = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in g.state_dict().items()}
    jacobian_norms(g, _latents(16, 3))
    assert all(p.grad is None for p in g.parameters())
    assert all(torch.equal(v, before[k]) for k, v in g.state_dict().items())


@pytest.fixture(scope="module")
def grid_gan():
    torch.set_num_threads(1)
    return gf.GAN("grid", steps=150, seed=0).fit()


def test_sampling_with_jbt_drops_the_steepest_latents(grid_gan):
    from ganforge.noise import Noise

    cfg = grid_gan.config_
    generator = grid_gan.trainer_.sampling_generator
    plain = grid_gan.sample(400, seed=5, jbt=0.0, dot_steps=0)
    cut = grid_gan.sample(400, seed=5, jbt=0.2, dot_steps=0)
    np.testing.assert_array_equal(cut, grid_gan.sample(400, seed=5, jbt=0.2, dot_steps=0))
    # the same as drawing 500 latents and keeping the 400 with the smallest norms
    z = Noise(cfg.latent_dim, cfg.noise, seed=5)(500)
    with evaluating(generator):
        kept = truncate(generator, z, 400)
        with torch.no_grad():
            expected = grid_gan.model.decode(generator(kept))
    np.testing.assert_allclose(cut, expected, rtol=0, atol=1e-6)
    assert cut.shape == plain.shape == (400, 2)
    assert not np.array_equal(cut, plain)


def test_the_grid_preset_samples_with_jbt_and_other_data_do_not():
    assert gf.GAN("grid").get_config().jbt == 0.2
    assert gf.GAN("ring").get_config().jbt == 0.0
    assert gf.GAN().get_config(np.zeros((20, 2), np.float32)).jbt == 0.0
    assert gf.GAN("grid", jbt=0).get_config().jbt == 0.0
    with pytest.raises(GanforgeError, match=r"--jbt must be in \[0, 1\)"):
        gf.GAN("grid", jbt=1.0).get_config()


def test_jbt_refuses_a_share_out_of_range_at_sampling(grid_gan):
    with pytest.raises(GanforgeError, match=r"jbt must be in \[0, 1\)"):
        grid_gan.sample(10, jbt=-0.1)


def test_cli_sample_with_jbt(tmp_path, capsys):
    run = tmp_path / "grid"
    assert main(["train", "grid", "--steps", "20", "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "x.npy"
    args = ["sample", str(run), "-n", "100", "-o", str(out), "--jbt", "0.1", "--dot-steps", "0"]
    assert main(args) == 0
    assert np.load(out).shape == (100, 2)
    bad = tmp_path / "bad.npy"
    assert main(["sample", str(run), "-n", "10", "-o", str(bad), "--jbt", "1"]) == 2
    assert "jbt must be in [0, 1)" in capsys.readouterr().err
    assert not bad.exists()
