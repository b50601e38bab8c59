"""The R3GAN-style residual networks (``--net resnet``): shapes, identity blocks at
initialisation, the [1, 2, 1] resampling, no normalisation, grouped convolutions, layouts
and precision, and a short training run through the Python API."""

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

import ganforge as gf
from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.modalities.build import builtin_networks
from ganforge.nets import DCGANDiscriminator, DCGANGenerator
from ganforge.penalties import r1_penalty
from ganforge.resnet_nets import (
    ACT_GAIN,
    Downsample,
    ResidualBlock,
    ResNetDiscriminator,
    ResNetGenerator,
    Upsample,
    lowpass_kernel,
    resnet_plan,
    stage_widths,
)

LATENT = 8


def _pair(shape, width=4, depth=1, seed=0, **kw):
    torch.manual_seed(seed)
    classes = kw.pop("num_classes", 0)
    pack = kw.pop("pack", 1)
    g = ResNetGenerator(LATENT, shape, width, depth, num_classes=classes, **kw)
    d = ResNetDiscriminator(shape, width, depth, pack=pack, num_classes=classes, **kw)
    return g, d


def _count(net):
    return sum(p.numel() for p in net.parameters())


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("classes", [0, 3])
def test_output_shapes(side, channels, classes):
    shape = (channels, side, side)
    g, d = _pair(shape, num_classes=classes)
    z = torch.randn(5, LATENT)
    y = torch.tensor([0, 1, 2, 0, 1]) if classes else None
    x = g(z, y)
    assert x.shape == (5, *shape)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x, y).shape == (5,)


@pytest.mark.parametrize("side", [8, 32])
def test_pack_two_judges_pairs(side):
    g, d = _pair((3, side, side), pack=2)
    x = torch.rand(6, 3, side, side) * 2 - 1
    assert d(x).shape == (3,)
    # a pack is the two pictures side by side along the channels
    assert d.body[0].in_channels == 6
    d1 = ResNetDiscriminator((6, side, side), 4, 1)
    d1.load_state_dict(d.state_dict())
    assert_close(d(x), d1(x.reshape(3, 6, side, side)), rtol=0, atol=0)
    with pytest.raises(GanforgeError, match="divisible by pack"):
        d(x[:5])


def test_plan_and_stage_widths():
    assert resnet_plan((3, 8, 8)) == (3, 8, 2)
    assert resnet_plan((1, 32, 32)) == (1, 32, 4)
    assert resnet_plan((3, 1024, 1024)) == (3, 1024, 9)
    assert stage_widths(32, 4) == [256, 128, 64, 32]
    assert stage_widths(16, 6) == [128, 128, 128, 64, 32, 16]  # 128x128: capped at 8w
    g = ResNetGenerator(LATENT, (3, 32, 32), 16, 1)
    d = ResNetDiscriminator((3, 32, 32), 16, 1)
    blocks = [m.expand.in_channels for m in g.modules() if isinstance(m, ResidualBlock)]
    assert blocks == [128, 64, 32, 16]
    blocks = [m.expand.in_channels for m in d.modules() if isinstance(m, ResidualBlock)]
    assert blocks == [16, 32, 64, 128]


@pytest.mark.parametrize(
    "shape", [(3, 28, 28), (3, 16, 32), (3, 4, 4), (1, 2048, 2048), (1, 48, 48)]
)
def test_unsuitable_picture_sizes_name_the_fix(shape):
    for make in (
        lambda: ResNetGenerator(LATENT, shape, 4, 1),
        lambda: ResNetDiscriminator(shape, 4),
    ):
        with pytest.raises(GanforgeError, match=r"power-of-two.*--resolution") as info:
            make()
        assert f"{shape[1]}x{shape[2]}" in str(info.value) and "\n" not in str(info.value)


def test_wrong_inputs_raise_ganforge_errors():
    g, d = _pair((1, 8, 8), num_classes=2)
    with pytest.raises(GanforgeError, match="noise of size 8"):
        g(torch.randn(2, 9), torch.tensor([0, 1]))
    with pytest.raises(GanforgeError, match="one class per sample"):
        g(torch.randn(2, 8))
    with pytest.raises(GanforgeError, match=r"shape \(1, 8, 8\)"):
        d(torch.randn(2, 3, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(GanforgeError, match="--pack 1"):
        ResNetDiscriminator((1, 8, 8), 4, pack=2, num_classes=2)
    with pytest.raises(GanforgeError, match="multiple of 3"):
        ResNetGenerator(LATENT, (1, 8, 8), 4, cardinality=3)
    with pytest.raises(GanforgeError, match="depth must be at least 1"):
        ResNetDiscriminator((1, 8, 8), 4, depth=0)


# --- residual blocks and initialisation --------------------------------------------------


def test_a_residual_block_is_the_identity_at_initialisation():
    torch.manual_seed(0)
    block = ResidualBlock(16, cardinality=4, expansion=2, blocks=3)
    x = torch.randn(3, 16, 8, 8)
    assert torch.equal(block(x), x)
    assert torch.count_nonzero(block.project.weight) == 0
    with torch.no_grad():  # a trained last convolution makes it a real residual branch
        block.project.weight.normal_()
    assert not torch.allclose(block(x), x)


@pytest.mark.parametrize("classes", [0, 4])
def test_whole_networks_start_as_their_networks_without_blocks(classes):
    g, d = _pair((3, 16, 16), width=8, depth=2, num_classes=classes)
    g_bare, d_bare = copy.deepcopy(g), copy.deepcopy(d)
    for net in (g_bare, d_bare):
        net.body = nn.Sequential(
            *(nn.Identity() if isinstance(m, ResidualBlock) else m for m in net.body)
        )
    z = torch.randn(4, LATENT)
    y = torch.tensor([0, 1, 2, 3]) if classes else None
    x = g(z, y)
    assert torch.equal(x, g_bare(z, y))
    assert torch.equal(d(x, y), d_bare(x, y))


def test_initialisation_follows_r3gan_variance_scaling():
    torch.manual_seed(0)
    depth, stages = 2, 4
    g = ResNetGenerator(LATENT, (3, 32, 32), 32, depth)
    block = next(m for m in g.modules() if isinstance(m, ResidualBlock))  # 256 → 512 channels
    gain = ACT_GAIN * (depth * stages) ** -0.25
    for conv, fan_in in ((block.expand, 256), (block.group, 128 * 9)):
        std = conv.weight.std().item()
        assert std == pytest.approx(gain / math.sqrt(fan_in), rel=0.02)
        assert torch.count_nonzero(conv.bias) == 0
    assert block.project.bias is None
    assert g.basis.std().item() == pytest.approx(1.0, rel=0.05)


# --- resampling --------------------------------------------------------------------------


def test_lowpass_kernel_is_the_binomial_1_3_3_1_from_1_2_1():
    side = torch.tensor([1.0, 3.0, 3.0, 1.0])
    assert torch.equal(lowpass_kernel((1, 2, 1)), torch.outer(side, side) / 64)


def test_downsampling_keeps_a_constant_and_averages_neighbours():
    x = torch.full((2, 3, 16, 16), -0.75)
    y = Downsample()(x)
    assert y.shape == (2, 3, 8, 8)
    assert torch.equal(y, torch.full((2, 3, 8, 8), -0.75))
    ramp = torch.arange(8.0).expand(1, 1, 8, 8)  # x = j along each row
    # [1, 3, 3, 1] / 8 over pixels 2i - 1 .. 2i + 2: the midpoint 2i + 0.5 of a ramp; the
    # edge pixels repeat at the borders: (0 + 3 * 0 + 3 * 1 + 2) / 8 and (5 + 18 + 21 + 7) / 8
    expected = torch.tensor([5 / 8, 2.5, 4.5, 51 / 8])
    assert_close(Downsample()(ramp)[0, 0], expected.expand(4, 4), rtol=0, atol=1e-6)


def test_upsampling_is_bilinear_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    y = Upsample()(x)
    assert y.shape == (2, 3, 16, 16)
    assert_close(y.mean((2, 3)), x.mean((2, 3)), rtol=0, atol=1e-6)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(y, bilinear, rtol=0, atol=1e-6)
    assert torch.equal(Upsample()(torch.full((1, 2, 4, 4), 0.5)), torch.full((1, 2, 8, 8), 0.5))


# --- structure ---------------------------------------------------------------------------

NORMS = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)


@pytest.mark.parametrize("classes", [0, 3])
def test_no_normalisation_anywhere(classes):
    g, d = _pair((3, 32, 32), width=8, depth=2, num_classes=classes)
    modules = [*g.modules(), *d.modules()]
    assert not [m for m in modules if isinstance(m, NORMS)]
    assert not any(hasattr(m, "parametrizations") for m in modules)
    # no running statistics either: the only buffers are the resampling filters
    assert {type(m) for m in modules if list(m.buffers(recurse=False))} == {Upsample, Downsample}


@pytest.mark.parametrize(("cardinality", "expansion"), [(1, 1), (2, 2), (8, 2), (16, 4)])
def test_grouped_convolutions_have_cardinality_groups(cardinality, expansion):
    width, depth = 8, 2
    g, d = _pair((1, 16, 16), width, depth, cardinality=cardinality, expansion=expansion)
    for net in (g, d):
        blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
        assert len(blocks) == depth * 3  # stages at 4, 8 and 16 pixels
        for b in blocks:
            c = b.expand.in_channels
            assert b.group.groups == cardinality and b.group.kernel_size == (3, 3)
            assert b.expand.out_channels == b.group.out_channels == c * expansion
            assert b.project.out_channels == c
            h = c * expansion
            # expand (with bias), grouped 3x3 (with bias), project (no bias)
            assert _count(b) == c * h + h + h * (h // cardinality) * 9 + h + h * c
        convs_3x3 = [
            m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
        ]
        assert [m.groups for m in convs_3x3] == [cardinality] * len(blocks)


def test_parameter_count_grows_with_width():
    shape = (3, 32, 32)
    counts_g = [_count(ResNetGenerator(LATENT, shape, w, 1)) for w in (4, 8, 16)]
    counts_d = [_count(ResNetDiscriminator(shape, w, 1)) for w in (4, 8, 16)]
    assert counts_g[0] < counts_g[1] < counts_g[2]
    assert counts_d[0] < counts_d[1] < counts_d[2]
    assert _count(ResNetGenerator(LATENT, shape, 8, 2)) > counts_g[1]


# --- gradients, layouts, precision -------------------------------------------------------


@pytest.mark.parametrize("classes", [0, 3])
def test_gradients_reach_every_parameter_and_r1_works(classes):
    g, d = _pair((3, 16, 16), width=4, depth=1, num_classes=classes)
    for net in (g, d):  # move every block off the identity so that all weights get gradients
        for m in net.modules():
            if isinstance(m, ResidualBlock):
                nn.init.normal_(m.project.weight, 0.0, 0.1)
    y = torch.tensor([0, 1, 2, 0]) if classes else None
    fake = g(torch.randn(4, LATENT), y)
    real = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_()
    # R1 backpropagates through D's input gradient: a double backward pass
    loss = d(fake, y).sum() + r1_penalty(d(real, y), real, 1.0)
    loss.backward()
    for name, p in (*g.named_parameters(), *d.named_parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_channels_last_matches_contiguous():
    g, d = _pair((3, 16, 16), width=8, depth=2, num_classes=3)
    for net in (g, d):
        for m in net.modules():
            if isinstance(m, ResidualBlock):
                nn.init.normal_(m.project.weight, 0.0, 0.1)
    g_cl = copy.deepcopy(g).to(memory_format=torch.channels_last)
    d_cl = copy.deepcopy(d).to(memory_format=torch.channels_last)
    z, y = torch.randn(4, LATENT), torch.tensor([0, 1, 2, 1])
    x, x_cl = g(z, y), g_cl(z, y)
    assert x_cl.is_contiguous(memory_format=torch.channels_last)
    assert_close(x_cl, x, atol=1e-5, rtol=1e-5)
    assert_close(d_cl(x_cl, y), d(x, y), atol=1e-5, rtol=1e-5)
    d(x, y).sum().backward()
    d_cl(x_cl, y).sum().backward()
    for a, b in ((g, g_cl), (d, d_cl)):
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_bf16_autocast_on_the_cpu_matches_fp32():
    g, d = _pair((3, 32, 32), width=8, depth=1)
    for net in (g, d):
        for m in net.modules():
            if isinstance(m, ResidualBlock):
                nn.init.normal_(m.project.weight, 0.0, 0.05)
    z = torch.randn(8, LATENT)
    x = g(z)
    logits = d(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x16 = g(z)
        logits16 = d(x16)
    assert x16.dtype == torch.bfloat16 and logits16.dtype == torch.bfloat16
    assert_close(x16.float(), x, atol=0.05, rtol=0)
    scale = logits.abs().max().item()
    assert_close(logits16.float(), logits, atol=0.05 * scale, rtol=0)


# --- wiring ------------------------------------------------------------------------------


def test_build_picks_resnet_only_when_asked():
    shape = (1, 8, 8)
    g, d, conv = builtin_networks(TrainConfig(net="resnet", g_width=4, d_width=4), shape, 0)
    assert isinstance(g, ResNetGenerator) and isinstance(d, ResNetDiscriminator) and conv
    assert (g.body[0].expand.in_channels, d.body[0].out_channels) == (8, 4)
    g, d, conv = builtin_networks(TrainConfig(net="auto", g_width=4, d_width=4), shape, 0)
    assert isinstance(g, DCGANGenerator) and isinstance(d, DCGANDiscriminator) and conv


@pytest.mark.parametrize(
    ("shape", "options", "pattern"),
    [
        ((2,), {}, r"--net resnet needs pictures \(C, H, W\).*\(2,\)"),
        ((24, 3), {}, r"--net resnet needs pictures \(C, H, W\).*\(24, 3\)"),
        ((1, 8, 8), {"d_norm": "batch"}, "no normalisation layers"),
        ((1, 8, 8), {"spectral_norm": True}, "no normalisation layers"),
    ],
)
def test_build_refuses_what_resnet_cannot_do(shape, options, pattern):
    cfg = TrainConfig(net="resnet", **options)
    with pytest.raises(GanforgeError, match=pattern) as info:
        builtin_networks(cfg, shape, 0)
    assert "\n" not in str(info.value)


TINY = {"steps": 20, "batch_size": 16, "g_width": 4, "d_width": 4, "latent_dim": 8}


@pytest.mark.parametrize("options", [{"pack": 2}, {"conditional": True}])
def test_training_smoke_run_saves_and_loads(tmp_path, options):
    gan = gf.GAN("digits", net="resnet", g_depth=1, d_depth=1, **TINY, **options).fit()
    trainer = gan.model_.trainer
    assert isinstance(trainer.generator, ResNetGenerator)
    assert isinstance(trainer.discriminator, ResNetDiscriminator)
    assert trainer.discriminator.pack == options.get("pack", 1)
    history = gan.history_
    assert list(history["step"])[-1] == 20
    assert np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
    x = gan.sample(10, seed=3)
    assert x.shape == (10, 8, 8, 1) and x.dtype == np.uint8
    gan.save(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["net"] == "resnet"
    loaded = gf.GAN.load(tmp_path / "run")
    assert isinstance(loaded.model_.trainer.generator, ResNetGenerator)
    np.testing.assert_array_equal(loaded.sample(10, seed=3), x)
    assert not np.array_equal(gan.sample(10, seed=4), x)
