"""The sharp critic of the sampler: its features against their closed form, its fit against
the exact log density ratio, and its life in a run (fitted at the end, saved, loaded,
resumed, turned on and off, refused where it cannot serve)."""

import math

import numpy as np
import pytest
import torch
from helpers import run

import ganforge as gf
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.sharp_critic import SharpCritic, fit_critic

TINY = {"steps": 40, "batch_size": 64, "g_width": 32, "d_width": 32, "seed": 0}


def test_features_are_x_then_sines_and_cosines_of_the_random_frequencies():
    critic = SharpCritic(3, freq=2.0, features=5, generator=torch.Generator().manual_seed(0))
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    f = critic.features(x)
    assert f.shape == (7, 3 + 2 * 5) and critic(x).shape == (7,)
    b = critic.freqs.double()
    for i in range(7):
        for j in range(5):
            phase = 2 * math.pi * float(x[i].double() @ b[:, j])
            assert f[i, 3 + j].item() == pytest.approx(math.sin(phase), abs=1e-5)
            assert f[i, 8 + j].item() == pytest.approx(math.cos(phase), abs=1e-5)
    torch.testing.assert_close(f[:, :3], x)


def test_frequencies_have_the_asked_scale_and_the_seed_fixes_everything():
    def make(seed: int) -> SharpCritic:
        return SharpCritic(
            2, freq=7.0, features=4096, generator=torch.Generator().manual_seed(seed)
        )

    a, b, c = make(0), make(0), make(1)
    # 8,192 normal draws: the sample standard deviation is within 3 % of 7 (about 4 sigma)
    assert a.freqs.std().item() == pytest.approx(7.0, rel=0.03)
    assert abs(a.freqs.mean().item()) < 7.0 * 4 / math.sqrt(a.freqs.numel())
    for (name, va), vb, vc in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(va, vb), name
        assert not torch.equal(va, vc), name
    with pytest.raises(ValueError, match="positive"):
        SharpCritic(2, freq=0.0)


def test_fit_recovers_the_log_density_ratio_of_two_gaussians():
    # real N(0, 1) against fake N(1, 1): the optimal logit is log p/q = 1/2 - x exactly
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    critic = SharpCritic(1, freq=0.1, features=8, width=32, generator=g)
    losses = fit_critic(
        critic,
        lambda n: torch.randn(n, 1, generator=g),
        lambda n: torch.randn(n, 1, generator=g) + 1.0,
        steps=1500,
        r1_gamma=0.0,
    )
    assert len(losses) == 1500
    x = torch.linspace(-1.5, 2.5, 41).unsqueeze(1)
    logit = critic(x)
    expected = 0.5 - x.squeeze(1)
    assert (logit - expected).abs().max().item() < 0.3
    # the loss at the optimum is 2 log 2 - 2 JS(p, q), by quadrature
    t = np.linspace(-12.0, 13.0, 200_001)
    p, q = np.exp(-(t**2) / 2), np.exp(-((t - 1) ** 2) / 2)
    optimum = -(p * np.log(p / (p + q)) + q * np.log(q / (p + q))).sum()
    optimum *= (t[1] - t[0]) / math.sqrt(2 * math.pi)
    assert 1.16 < optimum < 1.17
    assert np.mean(losses[-300:]) == pytest.approx(optimum, abs=0.01)
    # fitted, it is frozen: no gradient flows into it when the sampler asks it
    assert not any(p.requires_grad for p in critic.parameters()) and not critic.training


def test_fit_resolves_a_mode_too_wide_that_a_plain_mlp_cannot_see():
    # real N(0, 0.02²) against fake N(0, 0.04²), as narrow as a grid mode in the networks'
    # units: the optimal logit is log 2 - 937.5 x², which the Fourier features resolve
    # in 600 steps while the same MLP on x alone stays flat
    def fitted(freq: float) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        critic = SharpCritic(1, freq=freq, features=32, width=64, generator=g)
        fit_critic(
            critic,
            lambda n: 0.02 * torch.randn(n, 1, generator=g),
            lambda n: 0.04 * torch.randn(n, 1, generator=g),
            steps=600,
            r1_gamma=0.0,
        )
        return critic(x)

    x = torch.tensor([[0.0], [0.02], [0.04], [0.06]])
    exact = math.log(2) - x.squeeze(1) ** 2 * (1 / (2 * 0.02**2) - 1 / (2 * 0.04**2))
    assert (fitted(6.0) - exact).abs().max().item() < 0.35
    smooth = fitted(1e-3)
    assert (smooth.max() - smooth.min()).item() < 0.05


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("sharp") / "ring"
    gan = gf.GAN("ring", **TINY, sharp_critic_steps=30, dot_steps=5).fit(out=out)
    return gan, out


def test_fitting_the_critic_leaves_the_run_untouched_bitwise(ring_run):
    gan, _ = ring_run
    trainer = gan.trainer_
    modules = (trainer.sampling_generator, trainer.generator, trainer.discriminator)
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]
    grads = [[None if p.grad is None else p.grad.clone() for p in m.parameters()] for m in modules]
    fitted = {k: v.clone() for k, v in gan.sharp_critic_.state_dict().items()}
    source = dict(gan.source_.state_dict())
    gan.model._fit_sharp_critic()
    for m, state, grad in zip(modules, before, grads, strict=True):
        for k, v in m.state_dict().items():
            assert torch.equal(v, state[k]), k
        for p, g in zip(m.parameters(), grad, strict=True):
            assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    # the data stream is back where training left it, and the refit is the same critic
    for k, v in gan.source_.state_dict().items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(source[k])), k
    for k, v in gan.sharp_critic_.state_dict().items():
        assert torch.equal(v, fitted[k]), k


def test_the_sampler_asks_the_critic_and_can_be_told_not_to(ring_run):
    gan, _ = ring_run
    assert isinstance(gan.sharp_critic_, SharpCritic)
    sharp = gan.sample(300, seed=2)
    np.testing.assert_array_equal(sharp, gan.sample(300, seed=2, sharp_critic=True))
    plain = gan.sample(300, seed=2, sharp_critic=False)
    assert not np.array_equal(sharp, plain)
    # with neither DOT nor DRS the critic has nothing to do
    np.testing.assert_array_equal(
        gan.sample(300, seed=2, dot_steps=0),
        gan.sample(300, seed=2, dot_steps=0, sharp_critic=False),
    )
    # the critic's DOT is the discriminator's DOT with the critic swapped in
    discriminator = gan.trainer_.discriminator
    try:
        gan.trainer_.discriminator = gan.sharp_critic_
        np.testing.assert_array_equal(sharp, gan.sample(300, seed=2, sharp_critic=False))
    finally:
        gan.trainer_.discriminator = discriminator


def test_saved_with_the_final_checkpoint_and_loaded_back(ring_run, tmp_path):
    gan, out = ring_run
    loaded = gf.GAN.load(out)
    for k, v in gan.sharp_critic_.state_dict().items():
        assert torch.equal(v, loaded.sharp_critic_.state_dict()[k]), k
    np.testing.assert_array_equal(gan.sample(200, seed=5), loaded.sample(200, seed=5))
    # resuming the finished run restores it rather than fitting another
    resumed = gf.GAN("ring", **TINY, sharp_critic_steps=30, dot_steps=5).fit(out=out, resume=True)
    np.testing.assert_array_equal(gan.sample(200, seed=5), resumed.sample(200, seed=5))
    # save() keeps it too
    gan.save(tmp_path / "copy")
    np.testing.assert_array_equal(
        gan.sample(200, seed=5), gf.GAN.load(tmp_path / "copy").sample(200, seed=5)
    )


def test_an_interrupted_run_fits_it_when_resumed_to_the_end(tmp_path):
    torch.set_num_threads(1)
    opts = {**TINY, "steps": 20, "sharp_critic_steps": 10, "ckpt_every": 10}
    whole = gf.GAN("ring", **opts).fit(out=tmp_path / "whole")
    half = gf.GAN("ring", **{**opts, "steps": 10}).fit(out=tmp_path / "half")
    assert half.sharp_critic_ is not None  # the end of that shorter run fitted its own
    resumed = gf.GAN("ring", **opts).fit(out=tmp_path / "half", resume=True)
    for k, v in whole.sharp_critic_.state_dict().items():
        assert torch.equal(v, resumed.sharp_critic_.state_dict()[k]), k


def test_runs_without_it_sample_as_before_and_refuse_to_ask_it(tmp_path):
    gan = gf.GAN("ring", **TINY, dot_steps=5).fit()
    assert gan.sharp_critic_ is None
    np.testing.assert_array_equal(
        gan.sample(100, seed=1), gan.sample(100, seed=1, sharp_critic=False)
    )
    with pytest.raises(GanforgeError, match="no sharp critic; train it with --sharp-critic-steps"):
        gan.sample(10, sharp_critic=True)


def test_presets_and_checks():
    assert gf.GAN("grid").get_config().sharp_critic_steps == 1000
    assert gf.GAN("ring").get_config().sharp_critic_steps == 0
    assert gf.GAN().get_config(np.zeros((20, 2), np.float32)).sharp_critic_steps == 0
    assert gf.GAN("grid", pack=2).get_config().sharp_critic_steps == 0
    assert gf.GAN("grid", sharp_critic_steps=0).get_config().sharp_critic_steps == 0
    with pytest.raises(GanforgeError, match="--sharp-critic-steps must be 0 or more"):
        gf.GAN("ring", sharp_critic_steps=-1).get_config()
    with pytest.raises(GanforgeError, match="--sharp-critic-freq must be positive"):
        gf.GAN("ring", sharp_critic_freq=0).get_config()
    with pytest.raises(GanforgeError, match="--pack 1"):
        gf.GAN("ring", sharp_critic_steps=10, pack=2).get_config()


def test_cli_turns_it_on_and_off_and_refuses_pictures(tmp_path):
    out = tmp_path / "ring"
    args = ["--steps", "20", "--batch-size", "64", "--g-width", "16", "--d-width", "16"]
    assert (
        main(["train", "ring", *args, "--sharp-critic-steps", "10", "--out", str(out), "--quiet"])
        == 0
    )
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert main(["sample", str(out), "-n", "50", "-o", str(a), "--dot-steps", "5"]) == 0
    assert (
        main(
            ["sample", str(out), "-n", "50", "-o", str(b), "--dot-steps", "5", "--no-sharp-critic"]
        )
        == 0
    )
    assert not np.array_equal(np.load(a), np.load(b))
    plain = tmp_path / "plain"
    assert main(["train", "ring", *args, "--out", str(plain), "--quiet"]) == 0
    result = run("sample", plain, "-n", "5", "-o", tmp_path / "c.npy", "--sharp-critic")
    assert result.returncode == 2 and not (tmp_path / "c.npy").exists()
    assert "no sharp critic" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    pictures = tmp_path / "digits"
    result = run("train", "digits", "--steps", "2", "--sharp-critic-steps", "5", "--out", pictures)
    assert result.returncode == 2 and not pictures.exists()
    assert "for point data" in result.stderr and len(result.stderr.strip().splitlines()) == 1
