"""Adaptive discriminator augmentation: the masks, the p update, and the trainer's use."""

import json
import math

import pytest
import torch
from test_trainer import _assert_bitwise_equal, _snapshot
from torch import nn

import ganforge as gf
from ganforge.ada import OPERATIONS, P_MAX, AdaptiveAugment
from ganforge.augment import DiffAugment
from ganforge.noise import Noise
from ganforge.trainer import Trainer


def _images(n=8, c=3, h=16, w=16, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _gen(seed=5):
    return torch.Generator().manual_seed(seed)


def test_p_zero_leaves_images_bitwise_unchanged():
    x = _images()
    assert torch.equal(AdaptiveAugment(p=0.0)(x, _gen()), x)


def test_p_one_applies_every_operation_as_diffaugment_does():
    x = _images()
    ada = AdaptiveAugment()
    ada.p = torch.tensor(1.0)  # beyond what the update allows: every image, every operation
    expected, g = x, _gen()
    for name, operation in OPERATIONS.items():
        torch.rand(8, 1, 1, 1, generator=g)  # the mask draw
        shared = name in ("color", "translation", "cutout")  # DiffAugment's own, one each
        expected = DiffAugment(name)(expected, g) if shared else operation(expected, g)
    assert torch.equal(ada(x, _gen()), expected)
    assert torch.equal(OPERATIONS["xflip"](x, None), x.flip(3))


def test_each_image_gets_its_own_mask():
    x = _images(n=256)
    ada = AdaptiveAugment(p=0.5)
    changed = (ada(x, _gen()) != x).flatten(1).any(1)
    # 5 operations at p = 0.5: an image is left alone with probability 1/32
    assert 0 < int((~changed).sum()) < 40


def test_quarter_turns_skip_non_square_images():
    x = _images(h=8, w=12)
    ada = AdaptiveAugment()
    ada.p = torch.tensor(1.0)
    out = ada(x, _gen())
    assert out.shape == x.shape


def _feed(ada, sign_mean, n=8, updates=4):
    """``updates`` real batches whose logits have the given sign mean (n * mean positives)."""
    positives = round(n * (1 + sign_mean) / 2)
    logits = torch.tensor([2.0] * positives + [-3.0] * (n - positives))
    for _ in range(updates):
        ada.observe(logits)


def test_p_moves_by_sign_times_batch_interval_over_ramp_every_interval():
    ada = AdaptiveAugment(target=0.6, interval=4, ramp_images=64, p=0.25)
    _feed(ada, 0.75, updates=3)  # r_t = 0.75 > 0.6, but the interval is not complete
    assert ada.p.item() == 0.25
    _feed(ada, 0.75, updates=1)
    assert ada.p.item() == 0.25 + 8 * 4 / 64  # up by 0.5
    _feed(ada, 0.5)  # r_t = 0.5 < 0.6: down by the same step
    assert ada.p.item() == 0.25
    _feed(ada, -1.0)
    assert ada.p.item() == 0.0  # clamped at 0
    _feed(ada, 1.0)
    _feed(ada, 1.0)
    _feed(ada, 1.0)
    assert ada.p.item() == P_MAX and P_MAX < 1.0  # clamped just below 1


def test_default_constants_are_the_paper_s():
    ada = AdaptiveAugment()
    assert (ada.target, ada.interval, ada.ramp_images) == (0.6, 4, 500_000)
    _feed(ada, 1.0, n=32)
    torch.testing.assert_close(ada.p, torch.tensor(32 * 4 / 500_000), rtol=0, atol=1e-9)


def test_the_step_counts_the_images_behind_the_logits():
    ada = AdaptiveAugment(interval=1, ramp_images=64)
    ada.observe(torch.ones(4), images=16)  # packed: four logits for sixteen images
    assert ada.p.item() == 16 / 64


def test_gradients_flow_through_the_augmentation_to_the_images():
    x = _images().requires_grad_(True)
    ada = AdaptiveAugment(p=0.5)
    weights = torch.randn(x.shape, generator=_gen(9))
    (ada(x, _gen()) * weights).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    untouched = AdaptiveAugment(p=0.0)
    x.grad = None
    (untouched(x, _gen()) * weights).sum().backward()
    assert torch.equal(x.grad, weights)  # identity: the gradient passes unchanged


def test_state_dict_round_trip_continues_identically():
    a = AdaptiveAugment(interval=3, ramp_images=100)
    _feed(a, 1.0, updates=5)  # one adjustment, two updates gathered towards the next
    b = AdaptiveAugment(interval=3, ramp_images=100)
    b.load_state_dict(a.state_dict())
    for ada in (a, b):
        _feed(ada, 0.0, updates=4)
    assert torch.equal(a.p, b.p) and torch.equal(a._sign_sum, b._sign_sum)
    x = _images()
    assert torch.equal(a(x, _gen()), b(x, _gen()))


def _image_nets(seed=0):
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LeakyReLU(0.2),
                                  nn.Linear(16, 1))  # fmt: skip
    return generator, discriminator


def _image_trainer(**kw):
    generator, discriminator = _image_nets()
    return Trainer(generator, discriminator, noise=Noise(4, seed=0), **kw)


def test_trainer_observes_real_logits_and_reports_p():
    ada = AdaptiveAugment(interval=2, ramp_images=16)
    tr = _image_trainer(augment=ada, n_critic=2, r1_gamma=1.0)
    real = _images(n=8, c=1, h=8, w=8)
    stats = tr.step(real)
    assert stats["augment_p"] == 0.0  # the probability the two updates were augmented with
    assert ada._num_updates == 2 and ada._num_logits == 0  # adjusted once, after update 2
    assert ada.p.item() in (0.0, 8 * 2 / 16)
    assert tr.state_dict()["augment"]["num_updates"] == 2


def test_invariants_hold_with_ada():
    tr = _image_trainer(augment=AdaptiveAugment(p=0.5), r1_gamma=1.0, unrolled_steps=2)
    real = _images(n=8, c=1, h=8, w=8)
    tr.discriminator_step(real)
    d_state, g_state = _snapshot(tr.discriminator), _snapshot(tr.generator)
    d_grads = [p.grad.clone() for p in tr.discriminator.parameters()]
    ada_state = tr.augment.state_dict()
    tr.generator_step(8)  # unrolled: two lookahead updates, all put back
    _assert_bitwise_equal(d_state, tr.discriminator)
    for p, g in zip(tr.discriminator.parameters(), d_grads, strict=True):
        assert torch.equal(p.grad, g)
    assert tr.augment.state_dict()["num_updates"] == ada_state["num_updates"] == 1
    assert not all(torch.equal(g_state[k], v) for k, v in tr.generator.state_dict().items())
    g_state = _snapshot(tr.generator)
    stats = tr.discriminator_step(real)
    _assert_bitwise_equal(g_state, tr.generator)
    assert all(map(math.isfinite, stats.values()))


DIGITS = {
    "augment": "ada",
    "batch_size": 16,
    "g_width": 8,
    "d_width": 8,
    "latent_dim": 16,
    "ckpt_every": 10,
    "log_every": 10,
    "eval_every": 0,
    "sample_every": 0,
}


def test_digits_run_logs_augment_p_and_resumes_bitwise(tmp_path):
    full = gf.GAN("digits", steps=30, **DIGITS).fit(out=tmp_path / "full")
    assert isinstance(full.trainer_.augment, AdaptiveAugment)
    gf.GAN("digits", steps=20, **DIGITS).fit(out=tmp_path / "run")
    resumed = gf.GAN("digits", steps=30, **DIGITS).fit(out=tmp_path / "run", resume=True)
    for net in ("generator", "discriminator"):
        a, b = getattr(full.trainer_, net).state_dict(), getattr(resumed.trainer_, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
    assert torch.equal(full.trainer_.augment.p, resumed.trainer_.augment.p)
    assert full.trainer_.augment.state_dict()["num_updates"] == 30
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [10, 20, 30]
    assert all(0.0 <= r["augment_p"] < 1.0 for r in records)
    full_records = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").open()]
    assert [r["augment_p"] for r in records] == [r["augment_p"] for r in full_records]


@pytest.mark.parametrize("augment", ["", "translation,cutout,color"])
def test_other_augments_keep_their_state_dict_and_stats(augment):
    tr = _image_trainer(augment=DiffAugment(augment) if augment else None)
    stats = tr.step(_images(n=8, c=1, h=8, w=8))
    assert "augment_p" not in stats and "augment" not in tr.state_dict()
