"""DiffAugment: shapes, determinism, per-sample randomness, differentiability, each policy."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganforge.augment import POLICIES, DiffAugment
from ganforge.errors import GanforgeError

ALL = "color,translation,cutout"


def _images(n=4, c=3, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g) * 2 - 1


def _gen(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


# --- construction ------------------------------------------------------------------------


def test_policy_parsing_and_repr():
    aug = DiffAugment("cutout, Color,,translation")
    assert aug.policy == ("color", "translation", "cutout")
    assert repr(aug) == "DiffAugment(policy='color,translation,cutout')"
    assert DiffAugment().policy == POLICIES
    assert repr(DiffAugment("")) == "DiffAugment(policy='')"


def test_unknown_policy_lists_the_valid_ones():
    with pytest.raises(GanforgeError, match="'flip'.*color, translation, cutout") as info:
        DiffAugment("color,flip")
    assert "\n" not in str(info.value)


def test_rejects_non_image_input():
    with pytest.raises(GanforgeError, match=r"\(N, C, H, W\)"):
        DiffAugment()(torch.zeros(4, 10))
    with pytest.raises(GanforgeError, match="float"):
        DiffAugment()(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


# --- shapes and identity -----------------------------------------------------------------


@pytest.mark.parametrize("policy", ["", "color", "translation", "cutout", ALL])
@pytest.mark.parametrize(("c", "h", "w"), [(1, 16, 16), (3, 16, 16), (3, 8, 24), (1, 32, 12)])
def test_shape_and_dtype_preserved(policy, c, h, w):
    for dtype in (torch.float32, torch.float64):
        x = _images(c=c, h=h, w=w).to(dtype)
        y = DiffAugment(policy)(x, _gen())
        assert y.shape == x.shape and y.dtype == dtype
        assert torch.isfinite(y).all()


def test_empty_policy_is_identity():
    x = _images()
    assert DiffAugment("")(x, _gen()) is x
    assert DiffAugment(" , ")(x) is x


def test_channels_last_layout_is_kept():
    x = _images().to(memory_format=torch.channels_last)
    y = DiffAugment(ALL)(x, _gen())
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert_close(y, DiffAugment(ALL)(x.contiguous(), _gen()))


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
def test_gradients_flow_to_the_images(policy):
    x = _images().requires_grad_(True)
    w = torch.randn(x.shape, generator=_gen(1))
    (DiffAugment(policy)(x, _gen()) * w).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
def test_gradients_reach_a_generator_through_the_augmentation(policy):
    torch.manual_seed(0)
    generator = nn.Linear(8, 3 * 16 * 16)
    fake = torch.tanh(generator(torch.randn(4, 8))).view(4, 3, 16, 16)
    DiffAugment(policy)(fake, _gen()).square().sum().backward()
    for p in generator.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
        assert p.grad.abs().sum() > 0


# --- randomness --------------------------------------------------------------------------


def test_same_seed_same_output_different_seed_different_output():
    x = _images()
    aug = DiffAugment(ALL)
    assert torch.equal(aug(x, _gen(3)), aug(x, _gen(3)))
    assert not torch.equal(aug(x, _gen(3)), aug(x, _gen(4)))


def test_without_generator_uses_the_global_rng():
    x = _images()
    aug = DiffAugment(ALL)
    torch.manual_seed(7)
    a = aug(x)
    torch.manual_seed(7)
    assert torch.equal(a, aug(x))


@pytest.mark.parametrize("policy", ["color", "translation", "cutout"])
def test_each_sample_gets_its_own_draw(policy):
    x = _images(n=1).expand(8, -1, -1, -1).contiguous()
    y = DiffAugment(policy)(x, _gen())
    distinct = {tuple(y[i].flatten().tolist()) for i in range(8)}
    assert len(distinct) > 1


# --- translation -------------------------------------------------------------------------


def test_translation_moves_a_pixel_within_an_eighth():
    n, h, w = 256, 16, 24
    x = torch.zeros(n, 1, h, w)
    x[:, :, 8, 12] = 0.75
    y = DiffAugment("translation")(x, _gen())
    nonzero = y != 0
    assert (nonzero.flatten(1).sum(1) == 1).all()  # 8 ± 2 and 12 ± 3 stay inside
    assert_close(y[nonzero], torch.full((n,), 0.75))
    idx = nonzero.flatten(1).float().argmax(1)
    dy, dx = idx // w - 8, idx % w - 12
    assert dy.abs().max() == h // 8 and dx.abs().max() == w // 8
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) == 5 * 7  # every offset occurs


def test_translation_shifts_the_whole_image_and_zero_fills():
    h, w = 16, 16
    x = _images(n=64, c=3, h=h, w=w)
    y = DiffAugment("translation")(x, _gen(2))
    for i in range(64):
        matched = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                expected = torch.zeros_like(x[i])
                src = x[i][:, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
                expected[:, max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)] = src
                matched = matched or torch.equal(y[i], expected)
        assert matched, i


def test_translation_pushes_a_border_pixel_off():
    x = torch.zeros(256, 1, 16, 16)
    x[:, :, 0, 0] = 1.0
    y = DiffAugment("translation")(x, _gen())
    kept = y.flatten(1).sum(1)
    assert set(kept.tolist()) == {0.0, 1.0}  # pushed off, or kept at full value


# --- cutout ------------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), [(16, 16), (15, 9), (8, 32)])
def test_cutout_zeroes_at_most_a_quarter_and_keeps_the_rest(h, w):
    x = torch.ones(128, 1, h, w)
    y = DiffAugment("cutout")(x, _gen())
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    zeros = (y == 0).flatten(1).float().mean(1)
    assert (zeros > 0).all()
    assert (zeros <= 0.25 + 1e-6).all()
    assert zeros.max() == (h // 2) * (w // 2) / (h * w)  # a full hole away from the borders
    assert zeros.min() < zeros.max()  # clipped at a border some of the time


def test_cutout_hole_is_one_rectangle_shared_by_the_channels():
    x = _images(n=32, c=3, h=16, w=16)
    y = DiffAugment("cutout")(x, _gen())
    hole = y == 0
    assert torch.equal(hole[:, 0], hole[:, 1]) and torch.equal(hole[:, 0], hole[:, 2])
    assert torch.equal(y[~hole], x[~hole])
    for i in range(32):
        rows = hole[i, 0].any(1).nonzero().flatten()
        cols = hole[i, 0].any(0).nonzero().flatten()
        box = torch.zeros(16, 16, dtype=torch.bool)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert torch.equal(hole[i, 0], box)
        assert len(rows) <= 8 and len(cols) <= 8


# --- every size --------------------------------------------------------------------------


def _every_shape(most=40):
    """All squares up to ``most`` px, and every side with a few others, both ways."""
    sides = range(1, most + 1)
    shapes = {(s, s) for s in sides}
    shapes |= {(s, t) for s in sides for t in (1, 9, most)} | {
        (t, s) for s in sides for t in (1, 9, most)
    }
    return sorted(shapes)


def test_shift_and_hole_sizes_are_exact_for_every_side():
    # side * 1/8 and side * 1/2 are exact in floating point (powers of two), so the largest
    # shift is exactly side // 8 and the hole exactly side // 2 by side // 2, at every size
    n = 128
    for h, w in _every_shape():
        numbered = torch.arange(1, h * w + 1, dtype=torch.float32).view(1, 1, h, w)
        y = DiffAugment("translation")(numbered.repeat(n, 1, 1, 1), _gen()).flatten(1)
        first = (y != 0).float().argmax(1)  # a pixel that stayed in: shifts are < the side
        source = y[torch.arange(n), first].long() - 1
        dy, dx = first // w - source // w, first % w - source % w
        assert (dy.abs().max(), dx.abs().max()) == (h // 8, w // 8), (h, w)
        holes = (DiffAugment("cutout")(torch.ones(n, 1, h, w), _gen()) == 0).flatten(1).sum(1)
        assert holes.max() == (h // 2) * (w // 2), (h, w)


# --- color -------------------------------------------------------------------------------


def test_color_on_gray_images_is_a_per_sample_brightness_shift():
    x = torch.full((64, 3, 8, 8), 0.2)
    y = DiffAugment("color")(x, _gen())
    shift = (y - x).flatten(1)
    assert_close(shift, shift[:, :1].expand_as(shift))  # same for every pixel and channel
    assert (shift[:, 0].abs() <= 0.5).all()
    assert shift[:, 0].std() > 0.1  # differs between samples
    assert shift[:, 0].min() < -0.25 and shift[:, 0].max() > 0.25


def test_color_on_one_channel_is_affine_per_sample_with_contrast_slope():
    x = _images(n=32, c=1, h=8, w=8).double()
    y = DiffAugment("color")(x, _gen())
    xs, ys = x.flatten(1), y.flatten(1)
    xc, yc = xs - xs.mean(1, keepdim=True), ys - ys.mean(1, keepdim=True)
    slope = (xc * yc).sum(1) / xc.square().sum(1)
    assert_close(yc, slope[:, None] * xc)  # saturation does nothing on one channel
    assert (slope >= 0.5).all() and (slope <= 1.5).all()


def test_color_scales_channel_deviations_by_saturation_times_contrast():
    x = _images(n=32, c=3, h=8, w=8).double()
    y = DiffAugment("color")(x, _gen())
    dev_x = x - x.mean(1, keepdim=True)
    dev_y = y - y.mean(1, keepdim=True)
    scale = (dev_x * dev_y).flatten(1).sum(1) / dev_x.square().flatten(1).sum(1)
    assert_close(dev_y, scale.view(-1, 1, 1, 1) * dev_x)
    assert (scale >= 0).all() and (scale <= 3).all()
    assert scale.max() > 1.2 and scale.min() < 0.8


# --- devices -----------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_works_on_cuda():
    x = _images().cuda().requires_grad_(True)
    aug = DiffAugment(ALL)
    y = aug(x, _gen(5, "cuda"))
    assert y.device == x.device and y.shape == x.shape
    assert torch.equal(y, aug(x, _gen(5, "cuda")))
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(GanforgeError, match="torch.Generator"):
        aug(x, _gen(5, "cpu"))
