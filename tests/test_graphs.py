"""The captured step (``cuda_graph=True``) and the lean eager step: the same results, the
same non-finite semantics, the eager fallback with its note."""

import logging
import math

import pytest
import torch
from torch import nn

from ganforge.ema import EMA
from ganforge.errors import NonFiniteError
from ganforge.graphs import StepGraphs, obstacle
from ganforge.losses import LOSSES, label_smoothing
from ganforge.noise import Noise
from ganforge.trainer import Trainer
from ganforge.updates import Frozen, fused_adam_step

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")


def _trainer(policy="skip", device="cpu", fused=True, **kw):
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    d = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    g, d = g.to(device), d.to(device)
    return Trainer(
        g,
        d,
        noise=Noise(4, seed=0, device=device),
        on_nonfinite=policy,
        g_optimizer=torch.optim.Adam(g.parameters(), 1e-2, fused=fused),
        d_optimizer=torch.optim.Adam(d.parameters(), 1e-2, fused=fused),
        ema=EMA(g, 0.9),
        **kw,
    )


def _state(tr):
    """Every tensor a step may change: weights, buffers, EMA, optimizer state."""
    nets = (tr.generator, tr.discriminator, tr.ema.module)
    tensors = [t for net in nets for t in net.state_dict().values()]
    for opt in (tr.g_optimizer, tr.d_optimizer):
        tensors += [v for s in opt.state.values() for v in s.values()]
    return [t.detach().clone() for t in tensors]


def _same(a, b):
    """Bitwise equal, NaN included (a NaN batch leaves NaN in BatchNorm's statistics)."""
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def _counts(tr):
    return tr.num_steps, tr.num_d_updates, tr.num_skipped, tr.ema.num_updates


def _weights(tr):
    """Weights, EMA and optimizer state (not the buffers; see ganforge.graphs on stop)."""
    nets = (tr.generator, tr.discriminator, tr.ema.module)
    tensors = [p for net in nets for p in net.parameters()]
    for opt in (tr.g_optimizer, tr.d_optimizer):
        tensors += [v for s in opt.state.values() for v in s.values()]
    return [t.detach().clone() for t in tensors]


def _device_mode_step(tr, real):
    """One step as it is captured (statistics on the device, updates dropped through a
    device flag) and accounted after a replay, here run on the CPU without a graph."""
    graphs = StepGraphs.__new__(StepGraphs)
    graphs.trainer = tr
    graphs.reset()
    records, out = graphs.record([real] * tr.n_critic)
    return graphs.account(records, out.tolist())


def _real(n=32, nan=False):
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    if nan:
        x[3, 0] = float("nan")
    return x


def test_cuda_graph_on_the_cpu_runs_eagerly_with_one_note(caplog):
    with caplog.at_level(logging.WARNING, logger="ganforge"):
        graphed = _trainer(cuda_graph=True)
    notes = [r.getMessage() for r in caplog.records if r.name == "ganforge"]
    assert notes == ["cuda_graph: the device is cpu, not CUDA; the step runs eagerly"]
    plain = _trainer()
    for _ in range(3):
        assert graphed.step(_real()) == plain.step(_real())
    for a, b in zip(_state(graphed), _state(plain), strict=True):
        assert torch.equal(a, b)


def test_obstacles_name_what_cannot_be_captured():
    assert "not CUDA" in obstacle(_trainer())
    if torch.cuda.is_available():
        assert "fused=True" in obstacle(_trainer(device="cuda", fused=False))
        assert obstacle(_trainer(device="cuda", unrolled_steps=1)) == (
            "unrolled steps are not captured"
        )
        assert obstacle(_trainer(device="cuda")) is None


@pytest.mark.parametrize("policy", ["skip", "stop"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"reuse_fake": True},
        {"n_critic": 2},
        {"r1_gamma": 1.0, "r1_every": 2},
        {"loss": "rpgan", "r1_gamma": 1.0, "r2_gamma": 1.0, "r1_every": 2},
    ],
)
def test_device_flag_gives_the_eager_skip_and_stop_exactly(policy, kw):
    eager, device = _trainer(policy, **kw), _trainer(policy, **kw)
    for i, real in enumerate([_real(), _real(), _real(nan=True), _real(), _real()]):
        errors = []
        for tr in (eager, device):
            try:
                # the fused kernel's state exists after a first eager step (the warm-up)
                _device_mode_step(tr, real) if tr is device and i else tr.step(real)
                errors.append(None)
            except NonFiniteError as e:
                errors.append(str(e))
        assert errors[0] == errors[1]
        if errors[0]:
            # stopped where the eager step raised: weights, EMA and optimizer state alike
            assert policy == "stop" and i == 2 and "discriminator" in errors[0]
            for a, b in zip(_weights(eager), _weights(device), strict=True):
                assert torch.equal(a, b)
            return
        for a, b in zip(_state(eager), _state(device), strict=True):
            _same(a, b)
        assert _counts(eager) == _counts(device)
    # rpgan's generator update judges the NaN real batch too, and is skipped as well
    skipped = kw.get("n_critic", 1) + (kw.get("loss") == "rpgan")
    assert policy == "skip" and eager.num_skipped == skipped


def test_device_mode_returns_the_eager_statistics():
    eager, device = _trainer(r1_gamma=1.0), _trainer(r1_gamma=1.0)
    eager.step(_real())
    device.step(_real())
    for real in (_real(), _real(nan=True)):
        a, b = eager.step(real), _device_mode_step(device, real)
        assert list(a) == list(b)
        assert all(
            x == y or (math.isnan(x) and math.isnan(y))
            for x, y in zip(a.values(), b.values(), strict=True)
        )


@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_a_nan_batch_in_step_skips_or_stops_as_before(policy):
    tr = _trainer(policy)
    tr.step(_real())
    d_before = [p.clone() for p in tr.discriminator.parameters()]
    g_before = [p.clone() for p in tr.generator.parameters()]
    if policy == "stop":
        with pytest.raises(NonFiniteError, match="discriminator loss or gradient at step 2"):
            tr.step(_real(nan=True))
        assert tr.num_steps == 1 and tr.num_d_updates == 1
    else:
        stats = tr.step(_real(nan=True))
        assert math.isnan(stats["d_loss"]) and math.isfinite(stats["g_loss"])
        assert tr.num_skipped == 1 and tr.num_steps == 2
        assert all(p.grad is None for p in tr.discriminator.parameters())  # cleared, as before
    for a, b in zip(d_before, tr.discriminator.parameters(), strict=True):
        assert torch.equal(a, b)
    g_same = [torch.equal(a, b) for a, b in zip(g_before, tr.generator.parameters(), strict=True)]
    assert all(g_same) if policy == "stop" else not any(g_same)


def test_cached_freezing_leaves_the_network_bitwise_unchanged_step_after_step():
    tr = _trainer()
    for _ in range(3):
        tr.discriminator_step(_real())
        before = {k: v.clone() for k, v in tr.discriminator.state_dict().items()}
        grads = [p.grad.clone() for p in tr.discriminator.parameters()]
        tr.generator_step(32)
        for k, v in tr.discriminator.state_dict().items():
            assert torch.equal(before[k], v), k
        for g, p in zip(grads, tr.discriminator.parameters(), strict=True):
            assert torch.equal(g, p.grad)
        assert all(p.requires_grad for p in tr.discriminator.parameters())


def test_frozen_cannot_be_entered_twice():
    frozen = Frozen(nn.Linear(2, 2))
    with frozen, pytest.raises(RuntimeError, match="frozen again"), frozen:
        pass


@pytest.mark.parametrize(
    "opt", [torch.optim.Adam, torch.optim.AdamW, lambda p, lr, fused: torch.optim.Adam(
        p, lr, fused=fused, amsgrad=True, weight_decay=0.1)]
)  # fmt: skip
def test_fused_adam_step_is_the_optimizer_step_bitwise(opt):
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 1))
        nets.append((net, opt(net.parameters(), 1e-3, fused=True)))
    for i in range(4):
        x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(i))
        for net, o in nets:
            o.zero_grad()
            net(x).square().mean().backward()
        nets[0][1].step()
        assert fused_adam_step(nets[1][1]) is (i > 0)  # the first step makes the state
        if i == 0:
            nets[1][1].step()
    (a, oa), (b, ob) = nets
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
        for k in oa.state[p]:
            assert torch.equal(oa.state[p][k], ob.state[q][k])


def test_fused_adam_step_with_the_flag_up_changes_nothing():
    net = nn.Linear(3, 1)
    opt = torch.optim.Adam(net.parameters(), fused=True)
    net(torch.randn(2, 3)).sum().backward()
    opt.step()
    before = [p.clone() for p in net.parameters()] + [
        v.clone() for s in opt.state.values() for v in s.values()
    ]
    assert fused_adam_step(opt, torch.ones(()))
    after = list(net.parameters()) + [v for s in opt.state.values() for v in s.values()]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert not fused_adam_step(torch.optim.Adam(net.parameters()))  # not fused: no


SMOOTHABLE = ("minimax", "nonsaturating", "least-squares")  # losses with a real target


@pytest.mark.parametrize(
    "name, smoothing",
    [(name, 0.0) for name in sorted(LOSSES) if LOSSES[name].separable]
    + [(name, 0.1) for name in SMOOTHABLE],
)
def test_loss_halves_add_up_to_the_loss_bitwise(name, smoothing):
    loss = label_smoothing(name, smoothing)
    real, fake = torch.randn(64), torch.randn(64)
    real_term, fake_term = loss.halves
    assert torch.equal(real_term(real) + fake_term(fake), loss.d_loss(real=real, fake=fake))


def test_a_graph_is_keyed_by_the_lazy_r2_pattern_too():
    """R2 without R1: the updates that apply it and those that do not are different graphs."""
    real = _real()
    for r2_gamma, differ in ((1.0, True), (0.0, False)):
        tr = _trainer(r2_gamma=r2_gamma, r1_every=2)
        graphs = StepGraphs(tr)
        first = graphs._key([real])
        tr.num_d_updates = 1
        assert (graphs._key([real]) != first) is differ


@CUDA
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"reuse_fake": True},
        {"r1_gamma": 1.0, "r1_every": 2},
        {"loss": "rpgan", "r1_gamma": 1.0, "r2_gamma": 1.0, "r1_every": 2},
        {"r2_gamma": 1.0, "r1_every": 2},
    ],
)
def test_captured_steps_match_eager_steps_on_cuda(kw):
    eager, graphed = _trainer(device="cuda", **kw), _trainer(device="cuda", cuda_graph=True, **kw)
    assert graphed._graphs.off is None
    real = _real().cuda()
    for _ in range(8):  # warm-up, capture, replays
        a, b = eager.step(real), graphed.step(real)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    assert graphed._graphs.graphs, "the step was not captured"
    for x, y in zip(_state(eager), _state(graphed), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    assert _counts(eager) == _counts(graphed)


@CUDA
def test_captured_step_skips_a_nan_batch_like_the_eager_step():
    eager, graphed = _trainer(device="cuda"), _trainer(device="cuda", cuda_graph=True)
    for i in range(8):
        real = _real(nan=i == 6).cuda()
        eager.step(real)
        graphed.step(real)
    assert eager.num_skipped == graphed.num_skipped == 1
    for x, y in zip(_state(eager), _state(graphed), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


@CUDA
def test_graphs_are_captured_again_after_loading_a_checkpoint():
    a, b = _trainer(device="cuda", cuda_graph=True), _trainer(device="cuda", cuda_graph=True)
    real = _real().cuda()
    for _ in range(6):
        a.step(real)
    b.load_state_dict(a.state_dict())
    assert not b._graphs.graphs and b._graphs.warmup > 0
    for _ in range(6):
        sa, sb = a.step(real), b.step(real)
        assert sa == pytest.approx(sb, rel=1e-5, abs=1e-6)
