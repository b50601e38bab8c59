"""R3GAN's relativistic pairing loss (``rpgan``) and the R2 penalty, alone and in the trainer.

Closed forms use a linear discriminator D(x) = w·x + b, whose input gradient is w for every
sample, and an SGD optimizer with learning rate 0 where D must stay as it is.
"""

import copy
import math

import numpy as np
import pytest
import torch
from test_trainer import _real, _snapshot, _trainer
from torch import nn
from torch.nn.functional import softplus
from torch.testing import assert_close

import ganforge as gf
from ganforge import trainer_parts
from ganforge.cli import build_parser
from ganforge.config import TrainConfig, make_config
from ganforge.distributed import Dist
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, d_loss, g_loss
from ganforge.modalities.build import build_trainer
from ganforge.noise import Noise
from ganforge.run import RunDir
from ganforge.trainer import Trainer


def _s(x: float) -> float:
    """softplus in plain floats: log(1 + eˣ)."""
    return math.log1p(math.exp(x))


R = [2.0, -1.0, 0.5, 3.0]
F = [0.0, 1.0, 0.5, -2.0]


def test_rpgan_losses_at_known_logits_pair_real_i_with_fake_i():
    r, f = torch.tensor(R), torch.tensor(F)
    d_expected = sum(_s(-(a - b)) for a, b in zip(R, F, strict=True)) / 4
    g_expected = sum(_s(-(b - a)) for a, b in zip(R, F, strict=True)) / 4
    assert d_loss("rpgan", real=r, fake=f).item() == pytest.approx(d_expected, rel=1e-6)
    assert g_loss("rpgan", fake=f, real=r).item() == pytest.approx(g_expected, rel=1e-6)
    # by index: reversing one side pairs other samples, reversing both the same ones
    back = torch.tensor([3, 2, 1, 0])
    swapped = sum(_s(-(a - b)) for a, b in zip(R[::-1], F, strict=True)) / 4
    assert abs(swapped - d_expected) > 0.05
    assert d_loss("rpgan", real=r[back], fake=f).item() == pytest.approx(swapped, rel=1e-6)
    assert d_loss("rpgan", real=r[back], fake=f[back]).item() == pytest.approx(d_expected)


def test_rpgan_is_relativistic_and_not_separable():
    loss = LOSSES["rpgan"]
    assert loss.relativistic and not loss.separable and loss.halves is None
    assert loss.gp_weight == 0 and loss.clip_value is None
    r, f, zero = torch.tensor(R), torch.tensor(F), torch.zeros(4)
    whole = loss.d_loss(real=r, fake=f)
    parts = loss.d_loss(real=r, fake=zero) + loss.d_loss(real=zero, fake=f)
    parts = parts - loss.d_loss(real=zero, fake=zero)
    assert abs(float(whole - parts)) > 0.1  # D needs both batches' logits together


def test_rpgan_needs_one_real_logit_per_generated_one():
    with pytest.raises(GanforgeError, match=r"\(3,\) real and \(4,\) generated logits"):
        d_loss("rpgan", real=torch.zeros(3), fake=torch.zeros(4))
    with pytest.raises(GanforgeError, match=r"\(1,\) real and \(4,\) generated"):
        g_loss("rpgan", fake=torch.zeros(4), real=torch.zeros(1))  # no broadcasting
    with pytest.raises(GanforgeError, match="needs real logits too"):
        g_loss("rpgan", fake=torch.zeros(4))


def _linear(loss="rpgan", lr_d=0.0, **kw):
    """A trainer of a linear G and a linear D; with ``lr_d`` 0, D never moves."""
    torch.manual_seed(0)
    generator, discriminator = nn.Linear(4, 2), nn.Linear(2, 1)
    return Trainer(
        generator,
        discriminator,
        noise=Noise(4, seed=0),
        loss=loss,
        g_optimizer=torch.optim.SGD(generator.parameters(), lr=0.1),
        d_optimizer=torch.optim.SGD(discriminator.parameters(), lr=lr_d),
        **kw,
    )


def _wb(tr):
    return tr.discriminator.weight.detach()[0].clone(), tr.discriminator.bias.detach()[0].clone()


def test_rpgan_discriminator_step_has_the_closed_form():
    tr = _linear()
    w, b = _wb(tr)
    real, fake = _real(8, seed=1), _real(8, seed=2)
    stats = tr.discriminator_step(real, fake=fake)
    r, f = real @ w + b, fake @ w + b
    expected = sum(_s(-(r[i] - f[i]).item()) for i in range(8)) / 8
    assert stats["d_loss"] == pytest.approx(expected, rel=1e-6)
    # d/dw mean s(-(r_i - f_i)) = mean -σ(-(r_i - f_i))·(x_i - G(z)_i); b cancels in r_i - f_i
    coeff = -torch.sigmoid(-(r - f))
    assert_close(tr.discriminator.weight.grad[0], (coeff[:, None] * (real - fake)).mean(0))
    assert_close(tr.discriminator.bias.grad, torch.zeros(1))
    assert stats["penalty"] == 0.0


def test_rpgan_generator_step_pairs_its_samples_with_the_last_real_batch():
    tr = _linear()
    w, b = _wb(tr)
    real = _real(8, seed=1)
    tr.discriminator_step(real)  # lr 0: D stays as it is
    fake = _real(8, seed=2).requires_grad_(True)
    stats = tr.generator_step(8, fake=fake)
    r, f = real @ w + b, fake.detach() @ w + b
    expected = sum(_s(-(f[i] - r[i]).item()) for i in range(8)) / 8
    assert stats["g_loss"] == pytest.approx(expected, rel=1e-6)
    # d/dG(z)_i = -σ(-(f_i - r_i))·w/N: the real batch is a constant of this step
    assert_close(fake.grad, -torch.sigmoid(-(f - r))[:, None] * w / 8)


def test_rpgan_step_judges_the_real_batch_of_its_last_discriminator_update():
    tr = _linear(n_critic=2)
    w, b = _wb(tr)
    g = copy.deepcopy(tr.generator)
    noise = Noise(4, seed=0)
    first, last = _real(8, seed=1), _real(8, seed=5)
    stats = tr.step([first, last])
    noise(8), noise(8)  # the generated batches of the two discriminator updates
    with torch.no_grad():
        f = g(noise(8)) @ w + b  # the generator update's batch, judged
    r = last @ w + b
    expected = sum(_s(-(f[i] - r[i]).item()) for i in range(8)) / 8
    assert stats["g_loss"] == pytest.approx(expected, rel=1e-6)


def test_rpgan_judges_the_real_batch_without_a_graph():
    """No gradient reaches D in the generator step, and none of G flows through the real
    batch, so D(x) is computed without a graph (R3GAN's code detaches the real samples and
    freezes D, which builds none either)."""
    tr = _linear()
    calls = []
    d = tr.discriminator
    d.register_forward_pre_hook(
        lambda m, args: calls.append((torch.is_grad_enabled(), args[0].requires_grad))
    )
    tr.discriminator_step(_real(8))
    calls.clear()
    tr.generator_step(8)
    assert calls == [(True, True), (False, False)]  # G(z) with its graph, then x without


def test_rpgan_generator_step_refuses_what_it_cannot_pair():
    with pytest.raises(GanforgeError, match="there has been none yet"):
        _linear().generator_step(8)
    with pytest.raises(GanforgeError, match="there has been none yet"):
        _linear(d_first=False).step(_real(8))  # the generator update comes first
    tr = _linear()
    tr.discriminator_step(_real(8))
    with pytest.raises(GanforgeError, match=r"\(8,\) real and \(6,\) generated"):
        tr.generator_step(6)
    tr.g_topk = 0.5  # as the training loop would anneal it
    with pytest.raises(GanforgeError, match="use g_topk 1"):
        tr.generator_step(8)


@pytest.mark.parametrize(
    ("loss", "kw"),
    [("nonsaturating", {}), ("nonsaturating", {"joint_forward": True}), ("rpgan", {})],
)
def test_lazy_r2_is_half_gamma_k_w_squared_every_kth_update(loss, kw):
    """Linear D: R2 = γk/2·‖w‖² on every k-th update, adding γk·w to w's gradient, and
    nothing on the others; separable losses put it in the generated half's backward pass,
    the others in their one joint pass."""
    gamma, k = 0.4, 3
    plain, lazy = _linear(loss, **kw), _linear(loss, r2_gamma=gamma, r1_every=k, **kw)
    w, _ = _wb(lazy)
    for i in range(6):
        real, fake = _real(8, seed=i), _real(8, seed=10 + i)
        a = plain.discriminator_step(real, fake=fake)
        b = lazy.discriminator_step(real, fake=fake)
        on = i % k == 0
        expected = 0.5 * gamma * k * float(w.square().sum()) if on else 0.0
        assert b["penalty"] == pytest.approx(expected, rel=1e-6)
        assert b["d_loss"] == a["d_loss"]  # the loss itself is untouched
        diff = lazy.discriminator.weight.grad[0] - plain.discriminator.weight.grad[0]
        assert_close(diff, gamma * k * w if on else torch.zeros(2))
        assert torch.equal(lazy.discriminator.bias.grad, plain.discriminator.bias.grad)


def test_r1_and_r2_together_as_in_r3gan():
    """R3GAN's D loss: RpGAN + γ/2·(R1 + R2) at one γ; with a linear D, γ‖w‖² and 2γ·w."""
    gamma = 0.25
    plain, both = _linear(), _linear(r1_gamma=gamma, r2_gamma=gamma)
    w, _ = _wb(both)
    real, fake = _real(8, seed=1), _real(8, seed=2)
    plain.discriminator_step(real, fake=fake)
    stats = both.discriminator_step(real, fake=fake)
    assert stats["penalty"] == pytest.approx(gamma * float(w.square().sum()), rel=1e-6)
    diff = both.discriminator.weight.grad[0] - plain.discriminator.weight.grad[0]
    assert_close(diff, 2 * gamma * w)


def test_without_r2_the_default_step_is_the_plain_alternation_bitwise():
    """r2_gamma 0 (the default) leaves the step as it was: written out in plain PyTorch,
    with lazy R1 on every 2nd update, the weights and buffers agree bit for bit."""
    tr = _trainer(seed=3, r1_gamma=1.0, r1_every=2)
    g, d = copy.deepcopy(tr.generator), copy.deepcopy(tr.discriminator)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-2)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-2)
    noise = Noise(4, seed=3)
    for i in range(4):
        real = _real(seed=i)
        tr.step(real)
        g_buffers = _snapshot(g)
        with torch.no_grad():
            fake = g(noise(32))
        g.load_state_dict(g_buffers)  # the frozen G's statistics are put back
        opt_d.zero_grad()
        x = real.detach().requires_grad_(i % 2 == 0)
        logits = d(x).flatten()
        d_real = softplus(-logits).mean()
        if i % 2 == 0:  # lazy R1, γ·k = 2
            (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
            d_real = d_real + 0.5 * 2.0 * grad.square().flatten(1).sum(1).mean()
        d_real.backward()
        softplus(d(fake).flatten()).mean().backward()
        opt_d.step()
        d_state = _snapshot(d)
        opt_g.zero_grad()
        softplus(-d(g(noise(32))).flatten()).mean().backward()
        opt_g.step()
        d.load_state_dict(d_state)  # the frozen D's statistics are put back
        for mine, theirs in ((tr.generator, g), (tr.discriminator, d)):
            for key, value in theirs.state_dict().items():
                assert torch.equal(mine.state_dict()[key], value), (i, key)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_r2_off_computes_no_r2_at_all(loss, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("R2 computed while r2_gamma is 0")

    monkeypatch.setattr(trainer_parts, "r2_penalty", forbidden)
    tr = _trainer(loss, r1_gamma=1.0)
    for i in range(2):
        tr.step(_real(seed=i))
    with pytest.raises(AssertionError, match="while r2_gamma is 0"):  # the spy is in place
        _trainer(loss, r2_gamma=1.0).discriminator_step(_real())


def test_r2_gamma_and_rpgan_are_config_options_and_flags():
    assert TrainConfig().r2_gamma == 0.0
    assert make_config(loss="rpgan", r2_gamma=1).r2_gamma == 1.0
    args = build_parser().parse_args(["train", "ring", "--loss", "rpgan", "--r2-gamma", "0.5"])
    assert args.loss == "rpgan" and args.r2_gamma == 0.5
    with pytest.raises(GanforgeError, match="--r2-gamma must be 0 or more"):
        make_config(r2_gamma=-1.0)
    with pytest.raises(GanforgeError, match="use --g-topk 1 with --loss rpgan"):
        make_config(loss="rpgan", g_topk=0.5)
    # R2's double backward keeps D eager under --compile, as R1's does
    assert make_config(compile=True, r1_gamma=0.0, r2_gamma=1.0).compile


RING = {
    "loss": "rpgan",
    "r2_gamma": 0.1,
    "r1_gamma": 0.1,
    "g_width": 32,
    "d_width": 32,
    "batch_size": 64,
    "ckpt_every": 10,
    "log_every": 10,
    "eval_every": 0,
    "sample_every": 0,
}


def test_rpgan_with_r1_and_r2_trains_and_resumes_exactly(tmp_path):
    full = gf.GAN("ring", steps=30, **RING).fit(out=tmp_path / "full")
    assert full.trainer_.loss.name == "rpgan" and full.trainer_.r2_gamma == 0.1
    gf.GAN("ring", steps=20, **RING).fit(out=tmp_path / "run")
    resumed = gf.GAN("ring", steps=30, **RING).fit(out=tmp_path / "run", resume=True)
    assert resumed.trainer_.num_steps == 30
    for net in ("generator", "discriminator"):
        a, b = getattr(full.trainer_, net).state_dict(), getattr(resumed.trainer_, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
    np.testing.assert_array_equal(full.sample(200, seed=1), resumed.sample(200, seed=1))
    records = RunDir(tmp_path / "run").read_metrics()
    assert [r["step"] for r in records] == [10, 20, 30]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in records)
    with pytest.raises(GanforgeError, match="different configuration.*r2_gamma"):
        gf.GAN("ring", steps=30, **{**RING, "r2_gamma": 0.2}).fit(out=tmp_path / "run", resume=True)


def test_r2_reaches_the_trainer_and_keeps_a_compiled_run_s_d_eager():
    cfg = make_config(r1_gamma=0.0, r2_gamma=0.5, steps=2, compile=True)
    trainer = build_trainer(cfg, (2,), torch.device("cpu"), Dist())
    assert trainer.r2_gamma == 0.5
    assert trainer.generator._compiled_call_impl is not None  # G compiled, D eager
    assert trainer.discriminator._compiled_call_impl is None
