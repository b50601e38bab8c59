"""Shapes, ranges, gradients and layouts of the MLP and DCGAN networks."""

import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge.errors import GanforgeError
from ganforge.nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    conv_plan,
)
from ganforge.penalties import r1_penalty

LATENT = 8


def _pair(shape, seed=0, **kw):
    torch.manual_seed(seed)
    g_kw = {k: v for k, v in kw.items() if k in ("width", "depth", "g_norm")}
    if "g_norm" in g_kw:
        g_kw["norm"] = g_kw.pop("g_norm")
    d_kw = {k: v for k, v in kw.items() if k != "g_norm"}
    return DCGANGenerator(LATENT, shape, **g_kw), DCGANDiscriminator(shape, **d_kw)


# --- conv_plan ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "plan"),
    [
        ((8, 8), (4, 4, 1)),
        ((16, 16), (4, 4, 2)),
        ((28, 28), (7, 7, 2)),
        ((30, 30), (15, 15, 1)),
        ((32, 32), (4, 4, 3)),
        ((48, 48), (6, 6, 3)),
        ((256, 256), (4, 4, 6)),
        ((1024, 1024), (4, 4, 8)),
        ((16, 32), (4, 8, 2)),
        ((32, 64), (4, 8, 3)),
        ((64, 32), (8, 4, 3)),
    ],
)
def test_conv_plan_table(size, plan):
    assert conv_plan(*size) == plan


@pytest.mark.parametrize("size", [(9, 9), (7, 7), (6, 8), (4, 4), (32, 33), (2048, 2048), (0, 8)])
def test_conv_plan_rejects_unsuitable_sizes(size):
    with pytest.raises(GanforgeError, match=r"--resolution.*32") as info:
        conv_plan(*size)
    assert f"{size[0]}x{size[1]}" in str(info.value)
    assert "\n" not in str(info.value)


def test_conv_plan_rejects_non_integers():
    with pytest.raises(GanforgeError, match="--resolution"):
        conv_plan(32.0, 32)


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [8, 16, 28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_output_shapes(resolution, channels):
    shape = (channels, resolution, resolution)
    g, d = _pair(shape, width=8)
    x = g(torch.randn(3, LATENT))
    assert x.shape == (3, *shape)
    assert d(x).shape == (3,)


def test_dcgan_256_is_supported():
    shape = (3, 256, 256)
    g, d = _pair(shape, width=8)
    x = g(torch.randn(2, LATENT))
    assert x.shape == (2, *shape)
    assert d(x).shape == (2,)


@pytest.mark.parametrize("size", [(16, 32), (32, 64), (32, 16)])
def test_dcgan_non_square(size):
    shape = (3, *size)
    g, d = _pair(shape, width=8, depth=2, norm="batch")
    x = g(torch.randn(4, LATENT))
    assert x.shape == (4, *shape)
    assert d(x).shape == (4,)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("norm", ["none", "batch"])
@pytest.mark.parametrize("spectral", [False, True])
def test_dcgan_variants(depth, norm, spectral):
    shape = (3, 16, 16)
    g, d = _pair(shape, width=8, depth=depth, norm=norm, g_norm=norm, spectral_norm=spectral)
    x = g(torch.randn(4, LATENT))
    assert x.shape == (4, *shape)
    logits = d(x)
    assert logits.shape == (4,)
    assert torch.isfinite(logits).all()


def test_depth_adds_3x3_convolutions_at_each_resolution():
    g1, d1 = _pair((3, 32, 32), width=8, depth=1)
    g3, d3 = _pair((3, 32, 32), width=8, depth=3)

    def count(module, kernel):
        return sum(
            isinstance(m, nn.Conv2d) and m.kernel_size == (kernel, kernel) for m in module.modules()
        )

    # the generator has three resolutions below the full one, each with depth - 1 extras
    assert count(g1, 3) == 0 and count(g3, 3) == 3 * 2
    # the discriminator has three downsampling convolutions
    assert count(d1, 4) == count(d3, 4) == 3
    assert count(d1, 3) == 0 and count(d3, 3) == 3 * 2


def test_generator_channels_follow_the_plan():
    g = DCGANGenerator(LATENT, (3, 64, 64), width=4)
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    # base min(8*4, 4*2**3) = 32 at 4x4, then 16, 8, 4 channels, then the picture's 3
    assert g.base == (32, 4, 4)
    assert [m.out_channels for m in ups] == [16, 8, 4, 3]
    assert g.project.out_features == 32 * 4 * 4


def test_discriminator_channels_double_and_cap():
    d = DCGANDiscriminator((3, 128, 128), width=4)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [4, 8, 16, 32, 32]
    assert d.head.in_features == 32 * 4 * 4


def test_generator_accepts_4d_noise():
    g = DCGANGenerator(LATENT, (1, 8, 8), width=4).eval()
    z = torch.randn(3, LATENT)
    assert_close(g(z.view(3, LATENT, 1, 1)), g(z))


def test_generator_rejects_wrong_noise_size():
    g = DCGANGenerator(LATENT, (1, 8, 8), width=4)
    with pytest.raises(GanforgeError, match="latent"):
        g(torch.randn(2, LATENT + 1))


def test_discriminator_rejects_wrong_image_shape():
    d = DCGANDiscriminator((3, 16, 16), width=4)
    with pytest.raises(GanforgeError, match="shape"):
        d(torch.randn(2, 1, 16, 16))


# --- ranges ------------------------------------------------------------------------------


def test_generator_output_in_unit_range():
    g = DCGANGenerator(LATENT, (3, 16, 16), width=8)
    with torch.no_grad():
        for p in g.parameters():
            p.mul_(50.0)  # saturate the tanh
        x = g(torch.randn(8, LATENT) * 10)
    assert x.min() >= -1 and x.max() <= 1
    assert x.abs().max() > 0.99


def test_discriminator_logits_are_unbounded():
    d = DCGANDiscriminator((3, 16, 16), width=8)
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(100.0)
        logits = d(torch.rand(8, 3, 16, 16) * 2 - 1)
    assert logits.abs().max() > 1.0


def test_dcgan_initialisation():
    torch.manual_seed(0)
    g = DCGANGenerator(LATENT, (3, 32, 32), width=32)
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert abs(weights.mean().item()) < 0.002
    bn = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.01
    assert all((m.bias == 0).all() for m in g.modules() if getattr(m, "bias", None) is not None)


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"depth": 1, "norm": "none"},
        {"depth": 2, "norm": "batch", "g_norm": "batch"},
        {"depth": 2, "norm": "batch", "spectral_norm": True, "pack": 2},
        {"depth": 1, "norm": "none", "g_norm": "none", "spectral_norm": True},
    ],
)
def test_gradients_reach_every_parameter(kw):
    g, d = _pair((3, 16, 16), width=8, **kw)
    d(g(torch.randn(4, LATENT))).square().mean().backward()
    for net in (g, d):
        for name, p in net.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_discriminator_supports_input_gradient_penalties(norm):
    d = DCGANDiscriminator((3, 16, 16), width=8, depth=2, norm=norm, spectral_norm=True)
    real = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    penalty = r1_penalty(d(real), real, gamma=1.0)
    assert penalty > 0
    penalty.backward()
    # biases of the last layers do not change the input gradient; every weight does
    for name, p in d.named_parameters():
        if "bias" not in name:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


# --- PacGAN ------------------------------------------------------------------------------


def test_pack_groups_consecutive_samples_along_channels():
    torch.manual_seed(0)
    d = DCGANDiscriminator((1, 8, 8), width=4, pack=2)
    assert d.body[0].in_channels == 2
    x = torch.randn(6, 1, 8, 8)
    logits = d(x)
    assert logits.shape == (3,)
    # swapping two packs swaps their logits; swapping within a pack changes the logit
    assert_close(d(x[[2, 3, 0, 1, 4, 5]]), logits[[1, 0, 2]])
    assert not torch.allclose(d(x[[1, 0, 2, 3, 4, 5]])[0], logits[0])


def test_pack_rejects_indivisible_batch():
    d = DCGANDiscriminator((3, 8, 8), width=4, pack=3)
    with pytest.raises(GanforgeError, match="divisible by pack"):
        d(torch.randn(4, 3, 8, 8))


# --- layouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_channels_last_matches_contiguous(norm):
    g, d = _pair((3, 16, 16), width=8, depth=2, norm=norm, g_norm=norm, spectral_norm=True)
    g_cl = copy.deepcopy(g).to(memory_format=torch.channels_last)
    d_cl = copy.deepcopy(d).to(memory_format=torch.channels_last)
    z = torch.randn(4, LATENT)
    x = g(z)
    x_cl = g_cl(z)
    assert_close(x_cl, x, atol=1e-5, rtol=1e-5)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    expected = d(real)
    assert_close(d_cl(real.to(memory_format=torch.channels_last)), expected, atol=1e-5, rtol=1e-5)
    # a channels-last input to the contiguous module as well (spectral norm updates its
    # power-iteration state on every training-mode call, hence the fresh copies)
    d_a, d_b = copy.deepcopy(d), copy.deepcopy(d)
    got = d_a(real.to(memory_format=torch.channels_last))
    assert_close(got, d_b(real), atol=1e-5, rtol=1e-5)


def test_channels_last_nets_keep_one_layout_in_the_backward_pass_with_equal_gradients():
    g, d = _pair((1, 16, 16), width=8, depth=1, norm="batch", g_norm="batch")
    g_cl = copy.deepcopy(g).to(memory_format=torch.channels_last)
    d_cl = copy.deepcopy(d).to(memory_format=torch.channels_last)
    seen = []

    def watch(module, args, out):  # the gradient that each elementwise backward step gets
        out.grad_fn.register_prehook(lambda grads: seen.append(grads[0]))

    for net in (g_cl, d_cl):
        for m in net.modules():
            if isinstance(m, nn.LeakyReLU | nn.ReLU | nn.BatchNorm2d):
                m.register_forward_hook(watch)
    z = torch.randn(4, LATENT)
    d(g(z)).sum().backward()
    d_cl(g_cl(z)).sum().backward()
    assert seen and all(t.is_contiguous(memory_format=torch.channels_last) for t in seen)
    for a, b in ((g, g_cl), (d, d_cl)):
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_in_place_activations_give_the_same_values_and_gradients_bitwise(norm):
    g, d = _pair((1, 16, 16), width=8, depth=2, norm=norm, g_norm=norm)
    acts = [m for net in (g, d) for m in net.modules() if isinstance(m, nn.ReLU | nn.LeakyReLU)]
    assert acts and all(m.inplace for m in acts)
    g_out, d_out = copy.deepcopy(g), copy.deepcopy(d)
    for net in (g_out, d_out):
        for m in net.modules():
            if isinstance(m, nn.ReLU | nn.LeakyReLU):
                m.inplace = False
    z = torch.randn(6, LATENT)
    results = []
    for gen, disc in ((g, d), (g_out, d_out)):
        fake = gen(z)
        real = fake.detach().flip(0).requires_grad_()
        # R1 backpropagates through D's input gradient: a double backward pass
        loss = disc(fake).sum() + r1_penalty(disc(real), real, 1.0)
        loss.backward()
        grads = [p.grad.clone() for p in (*gen.parameters(), *disc.parameters())]
        results.append((fake.detach(), loss.detach(), grads))
    (fake_a, loss_a, grads_a), (fake_b, loss_b, grads_b) = results
    assert torch.equal(fake_a, fake_b) and torch.equal(loss_a, loss_b)
    assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b, strict=True))


# --- sizes and errors --------------------------------------------------------------------


def test_parameter_count_grows_with_width():
    def count(net):
        return sum(p.numel() for p in net.parameters())

    shape = (3, 32, 32)
    counts_g = [count(DCGANGenerator(LATENT, shape, width=w)) for w in (4, 8, 16)]
    counts_d = [count(DCGANDiscriminator(shape, width=w)) for w in (4, 8, 16)]
    assert counts_g == sorted(set(counts_g))
    assert counts_d == sorted(set(counts_d))


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: DCGANGenerator(LATENT, (3, 32, 32), norm="layer"), "unknown norm"),
        (lambda: DCGANDiscriminator((3, 32, 32), norm="instance"), "unknown norm"),
        (lambda: DCGANGenerator(0, (3, 32, 32)), "latent_dim"),
        (lambda: DCGANGenerator(LATENT, (3, 32, 32), width=0), "width"),
        (lambda: DCGANDiscriminator((3, 32, 32), depth=0), "depth"),
        (lambda: DCGANDiscriminator((3, 32, 32), pack=0), "pack"),
        (lambda: DCGANDiscriminator((0, 32, 32)), "channel"),
        (lambda: DCGANDiscriminator((3, 32)), "shape"),
        (lambda: DCGANGenerator(LATENT, (3, 9, 9)), "--resolution"),
    ],
)
def test_bad_arguments_raise_ganforge_error(make, pattern):
    with pytest.raises(GanforgeError, match=pattern):
        make()


# --- the MLP nets ------------------------------------------------------------------------


def test_mlp_shapes():
    torch.manual_seed(0)
    g = MLPGenerator(4, 2, width=16, depth=2)
    d = MLPDiscriminator(2, width=16, depth=2)
    x = g(torch.randn(5, 4))
    assert x.shape == (5, 2)
    assert d(x).shape == (5,)


def test_mlp_pack():
    torch.manual_seed(0)
    d = MLPDiscriminator(2, width=16, depth=2, pack=2)
    x = torch.randn(6, 2)
    assert d(x).shape == (3,)
    assert_close(d(x), d.net(x.reshape(3, 4)).squeeze(-1))
    with pytest.raises(GanforgeError, match="divisible by pack"):
        d(torch.randn(5, 2))
