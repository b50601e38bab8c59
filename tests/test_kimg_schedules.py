"""Ramps by images seen (R3GAN's recipe): learning rates, Adam's beta2, R1/R2 weights and
the EMA half-life."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import ganforge as gf
from ganforge.config import TrainConfig, make_config
from ganforge.ema import EMA
from ganforge.errors import GanforgeError
from ganforge.schedule import half_life_decay, kimg_schedules, ramp

RUN = dict(steps=40, batch_size=25, g_width=16, d_width=16, eval_every=0, sample_every=0)
RUN.update(log_every=10, threads=1, device="cpu")
RECIPE = dict(lr_end=0.1, beta2=0.9, beta2_end=0.999, gamma_end=0.1, ema_half_life_end_kimg=0.5)
SCHEDULED = {"lr_g", "lr_d", "beta2", "r1_gamma", "r2_gamma", "ema_decay"}


def test_cosine_ramp_start_middle_and_after_the_end():
    assert ramp(0, 1000, 2.0, 0.5) == 2.0
    assert ramp(500, 1000, 2.0, 0.5) == pytest.approx(1.25)  # w = (1 - cos(π/2))/2 = 1/2
    w = 0.5 * (1 - math.cos(math.pi / 4))
    assert ramp(250, 1000, 2.0, 0.5) == pytest.approx(2.0 - 1.5 * w)
    assert ramp(1000, 1000, 0.9, 0.99) == 0.99  # the end value exactly
    assert ramp(5000, 1000, 0.9, 0.99) == 0.99


def test_linear_ramp_and_unknown_kind():
    assert ramp(0, 400, 0.0, 500.0, "linear") == 0.0
    assert ramp(100, 400, 0.0, 500.0, "linear") == pytest.approx(125.0)
    assert ramp(300, 400, 0.0, 500.0, "linear") == pytest.approx(375.0)
    assert ramp(401, 400, 0.0, 500.0, "linear") == 500.0
    with pytest.raises(ValueError, match="choose one of: cosine, linear"):
        ramp(1, 2, 0.0, 1.0, "step")


def test_half_life_to_decay_by_hand():
    # 0.5^(32/1000) = e^(-0.032·ln 2)
    assert half_life_decay(32, 1.0) == pytest.approx(math.exp(-0.032 * math.log(2)), rel=1e-15)
    # after half-life / batch updates an old weight counts half
    assert half_life_decay(50, 0.5) ** 10 == pytest.approx(0.5)
    assert half_life_decay(64, 0.0) == 0.0


def test_schedules_by_images_seen_over_all_processes():
    assert kimg_schedules(TrainConfig(), 7) == {}
    cfg = SimpleNamespace(**{**TrainConfig().to_dict(), **RECIPE, "batch_size": 10, "steps": 100})
    cfg.r2_gamma, cfg.schedule_kimg, cfg.schedule_ramp = 0.4, 2.0, "linear"
    # step 50 of 2 processes: 50·10·2 = 1000 images, half of 2 kimg
    values = kimg_schedules(cfg, 50, world=2)
    assert values == pytest.approx(
        {
            "lr_g": cfg.lr_g * 0.55,
            "lr_d": cfg.lr_d * 0.55,
            "beta2": 0.9495,
            "r1_gamma": cfg.r1_gamma * 0.55,
            "r2_gamma": 0.4 * 0.55,
            "ema_decay": 0.5 ** (20 / 250),  # half-life 0.25 kimg, 20 images per update
        }
    )


def test_ema_without_warmup_uses_the_decay_it_is_given():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.0, warmup=False)
    ema.decay = 0.75
    with torch.no_grad():
        net.weight.fill_(4.0)
    ema.update(net)
    assert ema.module.weight.item() == 1.0  # 0.75·0 + 0.25·4


def test_run_ends_at_the_end_values_and_logs_them():
    gan = gf.GAN("ring", **RUN, **RECIPE).fit(progress=False)
    tr, cfg = gan.trainer_, gan.model_.config_
    for opt, lr in ((tr.g_optimizer, cfg.lr_g), (tr.d_optimizer, cfg.lr_d)):
        assert opt.param_groups[0]["lr"] == lr * 0.1
        assert opt.param_groups[0]["betas"] == (0.0, 0.999)
    assert tr.r1_gamma == cfg.r1_gamma * 0.1
    assert tr.ema.decay == 0.5 ** (25 / 500)
    last = gan.history_.iloc[-1]
    assert last["beta2"] == 0.999 and last["lr_g"] == cfg.lr_g * 0.1
    assert SCHEDULED - {"r2_gamma"} <= set(gan.history_.columns)
    assert "r2_gamma" not in gan.history_.columns  # R2 is off


def test_resume_mid_way_continues_bitwise(tmp_path):
    opts = {**RUN, **RECIPE, "ckpt_every": 20, "schedule_kimg": 1.0}  # 40 × 25 images
    whole = gf.GAN("ring", **opts).fit(out=tmp_path / "whole", progress=False)
    gf.GAN("ring", **{**opts, "steps": 20}).fit(out=tmp_path / "half", progress=False)
    resumed = gf.GAN("ring", **opts).fit(out=tmp_path / "half", resume=True, progress=False)
    a, b = whole.trainer_, resumed.trainer_
    assert b.num_steps == 40
    for mine, theirs in ((a.generator, b.generator), (a.discriminator, b.discriminator)):
        for key, value in mine.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[key]), key
    for key, value in a.ema.module.state_dict().items():
        assert torch.equal(value, b.ema.module.state_dict()[key]), key


def test_options_off_change_nothing():
    plain = gf.GAN("ring", **RUN).fit(progress=False)
    assert not SCHEDULED & set(plain.history_.columns)
    # beta2's ramp on, from 0.99 to 0.99: the same run bit for bit, one more column
    flat = gf.GAN("ring", **RUN, beta2_end=0.99).fit(progress=False)
    assert set(flat.history_.columns) - set(plain.history_.columns) == {"beta2"}
    a, b = plain.trainer_, flat.trainer_
    for mine, theirs in ((a.generator, b.generator), (a.ema.module, b.ema.module)):
        for key, value in mine.state_dict().items():
            assert torch.equal(value, theirs.state_dict()[key]), key
    assert a.ema.warmup and a.ema.decay == 0.999


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr_end": 0.0}, "--lr-end must be positive"),
        ({"lr_end": 0.5, "lr_schedule": "cosine"}, "use --lr-schedule constant"),
        ({"beta2_end": 1.0}, r"--beta2-end must be in \[0, 1\)"),
        ({"gamma_end": 0.1, "r1_gamma": 0.0}, "set one above 0"),
        ({"ema_half_life_kimg": -1.0}, "--ema-half-life-kimg must be 0 or more"),
        ({"schedule_kimg": -1.0}, "--schedule-kimg must be 0 or more"),
        ({"schedule_ramp": "step"}, "choose one of: cosine, linear"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(GanforgeError, match=message):
        make_config(**options)
