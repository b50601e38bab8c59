"""Latent discriminator optimal transport: its update against closed forms, the Lipschitz
estimate, and sampling with it leaving both networks untouched."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge as gf
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.modalities.pictures import N_GRID
from ganforge.modalities.tensor import N_SPREAD
from ganforge.modalities.tensor import spread as _spread
from ganforge.plots import image_grid
from ganforge.transport import LR, SMOOTH, effective_lipschitz, transport


def _linear_critic(c: torch.Tensor):
    return lambda z: z @ c


def test_first_step_moves_each_coordinate_by_lr_towards_a_higher_logit():
    # at z = z0 the smoothed transport cost has zero gradient, so the gradient is -c/k and
    # Adam's first step (beta1 = 0, bias-corrected) is lr * sign(c) per coordinate
    c = torch.tensor([2.0, -0.5, 0.0, 1e-3])
    z0 = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    z = transport(_linear_critic(c), z0, k=3.0, steps=1)
    expected = z0 + LR * torch.sign(c)
    torch.testing.assert_close(z, expected, rtol=0, atol=1e-6)


def test_a_flat_critic_moves_nothing():
    z0 = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    z = transport(lambda z: torch.zeros(len(z)) + 0 * z.sum(1), z0, k=1.0, steps=20)
    assert torch.equal(z, z0)


def test_converges_to_the_minimiser_of_cost_minus_logit():
    # minimise sqrt(t^2 + s) - r t along c: t = r sqrt(s / (1 - r^2)), with r = |c| / k
    c = torch.tensor([0.6, 0.8])  # |c| = 1
    k, r = 2.0, 0.5
    z0 = torch.zeros(1, 2)
    z = transport(_linear_critic(c), z0, k=k, steps=3000, lr=1e-4)
    t = r * math.sqrt(SMOOTH / (1 - r * r))
    torch.testing.assert_close(z[0], t * c, rtol=0, atol=5e-4)


def test_lipschitz_estimate_of_a_linear_critic():
    c = torch.tensor([3.0, -4.0])  # |c| = 5: the exact constant
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(2500, 2, generator=g), torch.randn(2500, 2, generator=g)
    k = effective_lipschitz(_linear_critic(c), z1, z2)
    assert 0.99 * 5 < k <= 5 * (1 + 1e-6)


def test_bounds_clamp_the_latents():
    c = torch.tensor([1.0, 1.0])
    z = transport(_linear_critic(c), torch.full((3, 2), 0.995), k=0.1, steps=5, bounds=(-1, 1))
    assert z.max() <= 1.0 and z.min() >= -1.0


@pytest.fixture(scope="module")
def ring_gan():
    torch.set_num_threads(1)
    return gf.GAN("ring", steps=150, seed=0).fit()


def test_sampling_with_dot_is_seeded_and_leaves_both_networks_untouched(ring_gan):
    trainer = ring_gan.trainer_
    modules = (trainer.sampling_generator, trainer.generator, trainer.discriminator)
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]
    grads = [[p.grad for p in m.parameters()] for m in modules]
    flags = [[p.requires_grad for p in m.parameters()] for m in modules]
    plain = ring_gan.sample(500, seed=3, dot_steps=0)
    moved = ring_gan.sample(500, seed=3, dot_steps=10)
    np.testing.assert_array_equal(moved, ring_gan.sample(500, seed=3, dot_steps=10))
    assert not np.array_equal(moved, plain) and moved.shape == plain.shape
    # each latent moved by at most steps * lr per coordinate, so samples stay near their start
    assert np.abs(moved - plain).max() < 1.0
    for m, state, grad, flag in zip(modules, before, grads, flags, strict=True):
        for k, v in m.state_dict().items():
            assert torch.equal(v, state[k]), k
        assert [p.grad for p in m.parameters()] == grad
        assert [p.requires_grad for p in m.parameters()] == flag


def test_dot_refuses_packs_and_drs_together(ring_gan):
    with pytest.raises(GanforgeError, match="choose one"):
        ring_gan.sample(10, drs=True, dot_steps=5)
    packed = gf.GAN("ring", steps=5, pack=2, batch_size=64).fit()
    with pytest.raises(GanforgeError, match="pack 1"):
        packed.sample(10, dot_steps=5)
    with pytest.raises(GanforgeError, match="--dot-steps"):
        gf.GAN("ring", dot_steps=-1).get_config()


def test_the_toy_presets_sample_with_dot_and_other_points_do_not(ring_gan):
    assert gf.GAN("ring").get_config().dot_steps == 30
    assert gf.GAN("grid").get_config().dot_steps == 30
    assert gf.GAN("mnist").get_config().dot_steps == 0  # class-conditional: DOT gains nothing
    assert gf.GAN().get_config(np.zeros((20, 2), np.float32)).dot_steps == 0
    # the preset gives way to what DOT cannot go with, and to the user's own choice
    assert gf.GAN("ring", pack=2).get_config().dot_steps == 0
    assert gf.GAN("ring", drs=True).get_config().dot_steps == 0
    assert gf.GAN("grid", dot_steps=0).get_config().dot_steps == 0
    # at sampling time, asking for rejection sampling turns the run's DOT off
    with_dot = ring_gan.sample(200, seed=1, dot_steps=30)
    np.testing.assert_array_equal(ring_gan.sample(200, seed=1), with_dot)
    assert ring_gan.sample(200, seed=1, drs=True).shape == (200, 2)


def test_cli_sample_with_dot_steps(tmp_path):
    run = tmp_path / "ring"
    assert main(["train", "ring", "--steps", "20", "--out", str(run), "--quiet"]) == 0
    out = tmp_path / "x.npy"
    assert main(["sample", str(run), "-n", "100", "-o", str(out), "--dot-steps", "5"]) == 0
    assert np.load(out).shape == (100, 2)


def test_step_grids_and_health_signals_come_straight_from_the_generator(tmp_path):
    # DOT on: the grid of the last step shows the generator's own pictures, the final grid
    # the refined ones that `sample` gives; the diversity signal is the unrefined spread
    opts = {"steps": 4, "batch_size": 16, "g_width": 8, "d_width": 8, "latent_dim": 16}
    gan = gf.GAN("digits", **opts, sample_every=4, log_every=4, dot_steps=5)
    gan.fit(out=tmp_path / "run")
    samples = tmp_path / "run" / "samples"
    step_grid = np.asarray(Image.open(samples / "step_000004.png"))
    final_grid = np.asarray(Image.open(samples / "final.png"))
    plain, refined = gan.sample(N_GRID, dot_steps=0), gan.sample(N_GRID)
    assert not np.array_equal(plain, refined)
    np.testing.assert_array_equal(step_grid, image_grid(plain)[..., 0])
    np.testing.assert_array_equal(final_grid, image_grid(refined)[..., 0])
    seed = gan.config_.seed + 1
    real = _spread(gan.source_.reference(N_SPREAD, seed=seed))
    expected = _spread(gan.sample(N_SPREAD, seed=seed, dot_steps=0)) / real
    record = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()][-1]
    assert record["diversity"] == pytest.approx(expected, rel=1e-6)
