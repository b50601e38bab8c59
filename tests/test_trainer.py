"""The seed's invariants, bitwise: each phase changes only its own network."""

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from ganforge.ema import EMA
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.noise import Noise
from ganforge.trainer import Trainer, frozen
from ganforge.updates import top_share


def _nets(seed=0):
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    discriminator = nn.Sequential(
        nn.Linear(2, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1)
    )
    return generator, discriminator


def _trainer(loss="nonsaturating", seed=0, **kw):
    generator, discriminator = _nets(seed)
    return Trainer(
        generator,
        discriminator,
        noise=Noise(4, seed=seed),
        loss=loss,
        g_optimizer=torch.optim.Adam(generator.parameters(), lr=1e-2),
        d_optimizer=torch.optim.Adam(discriminator.parameters(), lr=1e-2),
        **kw,
    )


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_bitwise_equal(before, module):
    after = module.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k


def _real(n=32, seed=1):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("r2_gamma", [0.0, 1.0])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_generator_step_leaves_discriminator_bitwise_unchanged(loss, r2_gamma):
    tr = _trainer(loss, r2_gamma=r2_gamma)
    tr.discriminator_step(_real())  # give D non-trivial state and .grad
    d_state = _snapshot(tr.discriminator)
    d_grads = [p.grad.clone() for p in tr.discriminator.parameters()]
    g_before = _snapshot(tr.generator)
    tr.generator_step(32)
    _assert_bitwise_equal(d_state, tr.discriminator)  # parameters and BatchNorm buffers
    for p, g in zip(tr.discriminator.parameters(), d_grads, strict=True):
        assert torch.equal(p.grad, g)
    assert all(p.requires_grad for p in tr.discriminator.parameters())  # unfrozen afterwards
    changed = [not torch.equal(g_before[k], v) for k, v in tr.generator.state_dict().items()]
    assert any(changed), "the generator step must change the generator"


@pytest.mark.parametrize("r2_gamma", [0.0, 1.0])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_discriminator_step_leaves_generator_bitwise_unchanged(loss, r2_gamma):
    tr = _trainer(loss, r1_gamma=1.0, r2_gamma=r2_gamma)
    tr.discriminator_step(_real(seed=2))  # a relativistic G step judges its real batch
    tr.generator_step(32)
    g_state = _snapshot(tr.generator)
    g_grads = [p.grad.clone() for p in tr.generator.parameters()]
    d_before = _snapshot(tr.discriminator)
    tr.discriminator_step(_real())
    _assert_bitwise_equal(g_state, tr.generator)
    for p, g in zip(tr.generator.parameters(), g_grads, strict=True):
        assert torch.equal(p.grad, g)
    assert any(not torch.equal(d_before[k], v) for k, v in tr.discriminator.state_dict().items())


def test_no_gradient_is_computed_for_the_frozen_network():
    tr = _trainer()
    got = {"d": set(), "g": set()}
    for net, key in ((tr.discriminator, "d"), (tr.generator, "g")):
        for i, p in enumerate(net.parameters()):
            p.register_hook(lambda g, i=i, key=key: got[key].add(i))
    tr.generator_step(16)
    assert got == {"d": set(), "g": set(range(len(list(tr.generator.parameters()))))}
    got["g"].clear()
    tr.discriminator_step(_real(16))
    assert got == {"d": set(range(len(list(tr.discriminator.parameters())))), "g": set()}


@pytest.mark.parametrize("r2_gamma", [0.0, 1.0])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_real_and_generated_halves_backpropagated_apart_give_the_joint_gradient(loss, r2_gamma):
    """A separable loss lets the D step free the real half's graph before the generated
    half is judged; the update must equal the one from a single joint backward pass."""
    split = _trainer(loss, r1_gamma=1.0, r2_gamma=r2_gamma)
    joint = _trainer(loss, r1_gamma=1.0, r2_gamma=r2_gamma)
    joint.loss = dataclasses.replace(joint.loss, separable=False)
    for i in range(3):
        a = split.discriminator_step(_real(seed=i))
        b = joint.discriminator_step(_real(seed=i))
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    for p, q in zip(
        split.discriminator.state_dict().values(),
        joint.discriminator.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(p, q)


def test_frozen_restores_flags_and_buffers_even_on_error():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    net[0].bias.requires_grad_(False)
    before = _snapshot(net)
    with pytest.raises(RuntimeError), frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
        net(torch.randn(8, 2))  # moves the running statistics
        raise RuntimeError
    _assert_bitwise_equal(before, net)
    assert [p.requires_grad for p in net.parameters()] == [True, False, True, True]


def test_generator_gradient_flows_through_discriminator():
    """Step 5: the generator's gradient is the chain rule through D, checked by hand."""
    generator = nn.Linear(3, 2, bias=False)
    discriminator = nn.Linear(2, 1, bias=False)
    noise = Noise(3, seed=4)
    tr = Trainer(
        generator,
        discriminator,
        noise=noise,
        loss="wasserstein",
        g_optimizer=torch.optim.SGD(generator.parameters(), lr=1.0),
        d_optimizer=torch.optim.SGD(discriminator.parameters(), lr=1.0),
    )
    z = Noise(3, seed=4)(8)
    w_g = generator.weight.detach().clone()
    w_d = discriminator.weight.detach().clone()  # (1, 2)
    tr.generator_step(8)
    # g_loss = -mean(w_d · W_g z)  =>  dL/dW_g = -w_dᵀ · mean(z)ᵀ
    expected = w_g - (-(w_d.T @ z.mean(0, keepdim=True)))
    torch.testing.assert_close(generator.weight.detach(), expected)


def test_discriminator_step_trains_real_as_positive():
    tr = _trainer()
    # without BatchNorm in D: per-batch statistics would hide a shift of the whole batch
    torch.manual_seed(0)
    tr.discriminator = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    tr.d_optimizer = torch.optim.Adam(tr.discriminator.parameters(), lr=1e-2)
    real = _real(64) + 3.0
    for _ in range(100):
        stats = tr.discriminator_step(real)
    assert stats["acc_real"] == 1.0 and stats["acc_fake"] == 1.0
    assert stats["d_real"] > 0 > stats["d_fake"]


def test_step_runs_n_critic_then_generator_and_counts():
    tr = _trainer(n_critic=3, g_steps=2)
    order = []
    tr.discriminator_step = lambda real, real_labels=None: order.append("d") or {"d_loss": 1.0}
    tr.generator_step = lambda n: order.append("g") or {"g_loss": 2.0}
    stats = tr.step([_real()] * 3)
    assert order == ["d", "d", "d", "g", "g"]
    assert stats == {"d_loss": 1.0, "g_loss": 2.0}
    order.clear()
    tr.d_first = False
    tr.step(_real())
    assert order == ["g", "g", "d", "d", "d"]
    assert tr.num_steps == 2


def test_step_returns_floats():
    stats = _trainer().step(_real())
    names = {"d_loss", "penalty", "d_real", "d_fake", "acc_real", "acc_fake", "d_grad_norm"}
    assert set(stats) == names | {"g_loss", "g_grad_norm"}
    assert all(isinstance(v, float) for v in stats.values())


def test_gradient_norms_are_the_norms_of_all_gradients_before_the_update():
    tr = _trainer()
    seen = {}

    def record(name, module):
        def step(*args, **kwargs):
            grads = [p.grad.flatten() for p in module.parameters() if p.grad is not None]
            seen[name] = torch.cat(grads).norm().item()

        return step

    tr.g_optimizer.step = record("g", tr.generator)  # called right before the weights change
    tr.d_optimizer.step = record("d", tr.discriminator)
    d_stats = tr.discriminator_step(_real())
    g_stats = tr.generator_step(32)
    assert d_stats["d_grad_norm"] == pytest.approx(seen["d"], rel=1e-5)
    assert g_stats["g_grad_norm"] == pytest.approx(seen["g"], rel=1e-5)


def test_step_rejects_wrong_number_of_batches():
    with pytest.raises(GanforgeError, match="n_critic=2"):
        _trainer(n_critic=2).step([_real()] * 3)


def test_wasserstein_clips_critic_weights():
    tr = _trainer("wasserstein")
    tr.discriminator_step(_real())
    assert max(p.abs().max().item() for p in tr.discriminator.parameters()) <= 0.01


def test_ema_follows_generator_updates():
    tr = _trainer()
    tr.ema = EMA(tr.generator, decay=0.5)
    tr.step(_real())
    assert tr.ema.num_updates == 1
    assert tr.sampling_generator is tr.ema.module


def test_state_dict_resumes_exactly():
    a = _trainer(r1_gamma=0.5)
    for i in range(3):
        a.step(_real(seed=i))
    state = copy.deepcopy(a.state_dict())  # live tensors would be shared by both
    b = _trainer(seed=123, r1_gamma=0.5)
    b.load_state_dict(state)
    for i in range(3, 5):
        a.step(_real(seed=i))
        b.step(_real(seed=i))
    for x, y in zip(
        a.generator.state_dict().values(), b.generator.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y)


def test_default_optimizers_are_dcgan_adam():
    generator, discriminator = _nets()
    tr = Trainer(generator, discriminator, noise=Noise(4))
    group = tr.g_optimizer.param_groups[0]
    assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)


def test_lazy_r1_applies_every_kth_update_weighted_by_k():
    tr = _trainer(r1_gamma=1.0, r1_every=3)
    penalties = [tr.discriminator_step(_real(seed=i))["penalty"] for i in range(6)]
    assert [p > 0 for p in penalties] == [True, False, False, True, False, False]
    eager = _trainer(r1_gamma=3.0)
    assert eager.discriminator_step(_real(seed=0))["penalty"] == pytest.approx(penalties[0])


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp"])
def test_joint_forward_matches_two_calls_without_batch_statistics(loss):
    def make(joint):
        torch.manual_seed(0)
        generator = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        discriminator = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        return Trainer(
            generator,
            discriminator,
            noise=Noise(4, seed=0),
            loss=loss,
            d_optimizer=torch.optim.SGD(discriminator.parameters(), lr=0.1),
            r1_gamma=1.0,
            joint_forward=joint,
        )

    a, b = make(False), make(True)
    for i in range(3):
        sa, sb = a.discriminator_step(_real(seed=i)), b.discriminator_step(_real(seed=i))
        assert sa == pytest.approx(sb, rel=1e-5, abs=1e-6)  # summation order differs
    for p, q in zip(a.discriminator.parameters(), b.discriminator.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_check_names_both_shapes_and_changes_nothing():
    tr = _trainer()
    before_g, before_d = _snapshot(tr.generator), _snapshot(tr.discriminator)
    noise_state = tr.noise.state_dict()["rng"].clone()
    tr.check(_real(8))  # fits: no error
    with pytest.raises(GanforgeError, match=r"shape \(2,\) but the data have shape \(3,\)"):
        tr.check(torch.zeros(8, 3))
    _assert_bitwise_equal(before_g, tr.generator)
    _assert_bitwise_equal(before_d, tr.discriminator)
    assert torch.equal(tr.noise.state_dict()["rng"], noise_state)
    tr.discriminator = nn.Sequential(nn.Linear(5, 1))
    with pytest.raises(GanforgeError, match=r"discriminator cannot take samples of shape \(2,\)"):
        tr.check(_real(8))
    tr.discriminator = nn.Sequential(nn.Linear(2, 3))
    with pytest.raises(GanforgeError, match="one realness logit per sample"):
        tr.check(_real(8))


def _recording_augment(seen):
    def augment(x, generator):
        seen.append(x.detach().clone())
        return x.flip(-1)  # differentiable and visible

    return augment


def test_augment_sees_real_and_fake_in_d_step_and_fake_in_g_step():
    seen = []
    tr = _trainer(augment=_recording_augment(seen))
    real = _real(16)
    tr.discriminator_step(real)
    assert len(seen) == 2 and torch.equal(seen[0], real)  # real, then the generated batch
    seen.clear()
    tr.generator_step(16)
    assert len(seen) == 1 and seen[0].shape == (16, 2)
    for p in tr.generator.parameters():  # the gradient flowed through the augmentation
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_instance_noise_reaches_discriminator_inputs_with_the_given_scale():
    seen = []
    probe = nn.Linear(2, 1)
    tr = _trainer(instance_noise=0.5, joint_forward=True)
    tr.discriminator = nn.Sequential(probe)
    tr.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    tr.d_optimizer = torch.optim.SGD(tr.discriminator.parameters(), lr=0.0)
    real = torch.zeros(4000, 2)
    tr.discriminator_step(real)
    seen_real = seen[0][:4000]
    assert seen_real.std().item() == pytest.approx(0.5, rel=0.05)
    assert seen_real.mean().abs().item() < 0.05
    tr.instance_noise = 0.0  # annealed to nothing: D sees the data itself
    seen.clear()
    tr.discriminator_step(real)
    assert torch.equal(seen[0][:4000], real)


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan-gp"])
def test_invariants_hold_with_augment_noise_and_bf16(loss):
    tr = _trainer(
        loss,
        r1_gamma=1.0,
        augment=lambda x, g: x * 0.9,
        instance_noise=0.1,
        g_topk=0.5,
        precision="bf16",
    )
    tr.discriminator_step(_real())
    d_state, g_state = _snapshot(tr.discriminator), _snapshot(tr.generator)
    d_grads = [p.grad.clone() for p in tr.discriminator.parameters()]
    stats = tr.generator_step(32)
    _assert_bitwise_equal(d_state, tr.discriminator)
    for p, g in zip(tr.discriminator.parameters(), d_grads, strict=True):
        assert torch.equal(p.grad, g)
    g_state = _snapshot(tr.generator)
    stats.update(tr.discriminator_step(_real()))
    _assert_bitwise_equal(g_state, tr.generator)
    assert all(map(math.isfinite, stats.values()))


def test_bf16_autocast_runs_the_networks_in_bf16():
    dtypes = []
    tr = _trainer(precision="bf16")
    tr.discriminator.register_forward_hook(lambda m, a, out: dtypes.append(out.dtype))
    tr.step(_real())
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)


def test_precision_checks():
    with pytest.raises(GanforgeError, match="unknown precision"):
        _trainer(precision="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(GanforgeError, match="fp16 precision needs a CUDA device"):
            _trainer(precision="fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 with a gradient scaler needs CUDA")
def test_fp16_with_gradient_scaler_on_cuda():
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)).cuda()
    discriminator = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)).cuda()
    tr = Trainer(generator, discriminator, noise=Noise(4, device="cuda"), precision="fp16")
    d_state = _snapshot(discriminator)
    tr.generator_step(32)
    _assert_bitwise_equal(d_state, discriminator)
    for i in range(5):
        stats = tr.step(_real(seed=i).cuda())
    assert all(map(math.isfinite, stats.values()))
    assert tr.state_dict()["g_scaler"]["scale"] > 0


def test_resume_keeps_channels_last_moments_aligned_for_fused_adam():
    """Checkpoints hold contiguous tensors; loaded Adam moments must get the parameters'
    channels-last strides again, or a fused update pairs the wrong elements."""

    def make():
        torch.manual_seed(0)
        g = nn.Sequential(nn.Unflatten(1, (4, 1, 1)), nn.ConvTranspose2d(4, 3, 4))
        d = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(16, 1))
        g.to(memory_format=torch.channels_last)
        d.to(memory_format=torch.channels_last)
        return Trainer(
            g,
            d,
            noise=Noise(4, seed=0),
            g_optimizer=torch.optim.Adam(g.parameters(), 1e-2, fused=True),
            d_optimizer=torch.optim.Adam(d.parameters(), 1e-2, fused=True),
        )

    real = torch.randn(8, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    a = make()
    a.step(real)
    state = a.state_dict()
    contiguous = {k: v.contiguous() if torch.is_tensor(v) else v for k, v in state.items()}
    for key in ("g_optimizer", "d_optimizer"):  # as a checkpoint stores them
        contiguous[key] = copy.deepcopy(state[key])
        for s in contiguous[key]["state"].values():
            s.update({k: v.contiguous() for k, v in s.items()})
    b = make()
    b.load_state_dict(copy.deepcopy(contiguous))
    a.step(real)
    b.step(real)
    _assert_bitwise_equal(_snapshot(a.generator), b.generator)
    _assert_bitwise_equal(_snapshot(a.discriminator), b.discriminator)


def test_label_smoothing_closed_forms():
    from ganforge.losses import label_smoothing

    r, f = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([-0.5, 0.7])
    bce = label_smoothing("nonsaturating", 0.1).d_loss(real=r, fake=f)
    p = torch.sigmoid(r)
    expected = -(0.9 * torch.log(p) + 0.1 * torch.log(1 - p)).mean()
    expected += -torch.log(1 - torch.sigmoid(f)).mean()
    torch.testing.assert_close(bce, expected)
    ls = label_smoothing("least-squares", 0.2).d_loss(real=r, fake=f)
    torch.testing.assert_close(ls, 0.5 * ((r - 0.8) ** 2).mean() + 0.5 * (f**2).mean())
    assert label_smoothing("minimax", 0.1).g_loss is LOSSES["minimax"].g_loss
    with pytest.raises(GanforgeError, match="needs a loss with targets"):
        label_smoothing("hinge", 0.1)
    with pytest.raises(GanforgeError, match=r"\[0, 0.5\)"):
        label_smoothing("minimax", 0.6)


def test_d_l2_adds_two_lambda_w_to_the_weight_gradient():
    lam, lr = 0.05, 0.1
    trainers = [_trainer(d_l2=d) for d in (0.0, lam)]
    for tr in trainers:
        tr.d_optimizer = torch.optim.SGD(tr.discriminator.parameters(), lr=lr)
    before = copy.deepcopy(trainers[0].discriminator.state_dict())
    stats = [tr.discriminator_step(_real()) for tr in trainers]
    plain, penalised = (dict(tr.discriminator.named_parameters()) for tr in trainers)
    weights = {k: v for k, v in before.items() if k in plain and v.dim() > 1}
    for name, w0 in weights.items():  # SGD: the difference is -lr * 2λ w0
        torch.testing.assert_close(penalised[name] - plain[name], -lr * 2 * lam * w0)
    biases = [k for k in plain if before[k].dim() == 1]
    assert biases and all(torch.equal(plain[k], penalised[k]) for k in biases)
    l2 = lam * sum(w.square().sum() for w in weights.values())
    assert stats[1]["penalty"] - stats[0]["penalty"] == pytest.approx(float(l2), rel=1e-5)


def test_unrolled_generator_learns_against_the_future_discriminator_and_restores_it():
    unrolled = _trainer(unrolled_steps=3, seed=5)
    reference = _trainer(seed=5)  # the same, doing the 3 updates for real
    real = _real()
    for tr in (unrolled, reference):
        tr.discriminator_step(real)
    d_before = _snapshot(unrolled.discriminator)
    grads = [p.grad.clone() for p in unrolled.discriminator.parameters()]
    opt_before = copy.deepcopy(unrolled.d_optimizer.state_dict())
    unrolled.generator_step(32)
    for _ in range(3):
        reference.discriminator_step(real)
    reference.generator_step(32)
    for a, b in zip(unrolled.generator.parameters(), reference.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    _assert_bitwise_equal(d_before, unrolled.discriminator)  # put back exactly
    for p, g in zip(unrolled.discriminator.parameters(), grads, strict=True):
        assert torch.equal(p.grad, g)
    after = unrolled.d_optimizer.state_dict()
    for key, state in opt_before["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(after["state"][key][name]), torch.as_tensor(value))
    assert unrolled.num_d_updates == 1


def test_reuse_fake_step_is_the_dcgan_alternation_on_one_generated_batch():
    """``reuse_fake``: D learns from G(z) with z drawn once, then G learns from the same
    G(z) judged by the updated D; written out here in plain PyTorch."""
    tr = _trainer(reuse_fake=True, seed=3)
    g, d = copy.deepcopy(tr.generator), copy.deepcopy(tr.discriminator)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-2)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-2)
    noise, real = Noise(4, seed=3), _real()
    softplus = torch.nn.functional.softplus
    for _ in range(3):
        stats = tr.step(real)
        fake = g(noise(32))  # once per step, with its graph
        opt_d.zero_grad()
        softplus(-d(real)).mean().backward()
        softplus(d(fake.detach())).mean().backward()
        opt_d.step()
        d_grads = [p.grad.clone() for p in d.parameters()]
        d_buffers = _snapshot(d)
        opt_g.zero_grad()
        g_loss = softplus(-d(fake)).mean()
        g_loss.backward()
        opt_g.step()
        d.load_state_dict(d_buffers)  # D's statistics of the G step's forward are dropped
        for mine, theirs in ((tr.generator, g), (tr.discriminator, d)):
            for k, v in theirs.state_dict().items():
                torch.testing.assert_close(mine.state_dict()[k], v, rtol=1e-6, atol=1e-7)
        for p, grad in zip(tr.discriminator.parameters(), d_grads, strict=True):
            torch.testing.assert_close(p.grad, grad, rtol=1e-6, atol=1e-7)  # none from G's step
        assert stats["g_loss"] == pytest.approx(float(g_loss.detach()), rel=1e-6)
    assert torch.equal(tr.noise.generator.get_state(), noise.generator.get_state())  # one draw


def test_reuse_fake_keeps_fresh_batches_when_it_cannot_apply():
    """With n_critic > 1 there is no single judged batch to reuse: each update draws its own."""
    reuse, fresh = _trainer(reuse_fake=True, n_critic=2, seed=4), _trainer(n_critic=2, seed=4)
    for tr in (reuse, fresh):
        tr.step(_real())
    for a, b in zip(reuse.generator.parameters(), fresh.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(reuse.noise.generator.get_state(), fresh.noise.generator.get_state())


def test_top_k_generator_loss_and_gradient_have_the_closed_form():
    # a linear D: logit_i = x_i·w + b; the non-saturating loss over the k highest logits is
    # mean_k softplus(-logit), whose gradient is -sigmoid(-logit_i)·w/k on those k rows, 0 else
    tr = _trainer(g_topk=0.25)
    tr.discriminator = nn.Linear(2, 1)
    w, b = tr.discriminator.weight.detach()[0], tr.discriminator.bias.detach()[0]
    fake = torch.randn(8, 2, generator=torch.Generator().manual_seed(3), requires_grad=True)
    logits = fake.detach() @ w + b
    top = set(sorted(range(8), key=lambda i: -logits[i].item())[:2])  # k = 0.25 · 8
    stats = tr.generator_step(8, fake=fake)
    expected_loss = sum(math.log1p(math.exp(-logits[i].item())) for i in top) / 2
    assert stats["g_loss"] == pytest.approx(expected_loss, rel=1e-6)
    for i in range(8):
        expected = -torch.sigmoid(-logits[i]) * w / 2 if i in top else torch.zeros(2)
        torch.testing.assert_close(fake.grad[i], expected)
    assert stats["d_fake"] == pytest.approx(logits.mean().item(), rel=1e-6)  # all 8 judged


def test_top_k_keeps_at_least_one_sample_and_all_at_one():
    logits = torch.tensor([0.3, -1.0, 2.0])
    assert torch.equal(top_share(logits, 0.01), torch.tensor([2.0]))
    assert top_share(logits, 1.0) is logits
    with pytest.raises(GanforgeError, match="g_topk must be in"):
        _trainer(g_topk=0.0)


def test_top_k_share_is_saved_and_restored():
    a = _trainer(g_topk=0.5)
    a.g_topk = 0.7  # as annealed by the training loop
    b = _trainer()
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    assert b.g_topk == 0.7
