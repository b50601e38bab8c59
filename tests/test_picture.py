from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ganforge.data.picture import cover_box, fit

SIDES = range(1, 301)
# square and not, small and large, including --resolution values of the issue (28, 32, 64)
RESOLUTIONS = [(28, 28), (32, 32), (64, 64), (32, 48), (48, 32), (1, 1), (7, 300)]


def exact_box(width, height, size):
    """The covering box in exact rational arithmetic: the side of the picture that covers
    ``size`` is spanned whole, the other is cut to the aspect ratio of ``size``, centred."""
    h, w = size
    if w * height >= h * width:  # the width covers
        bw, bh = Fraction(width), Fraction(h * width, w)
    else:
        bw, bh = Fraction(w * height, h), Fraction(height)
    left, top = (width - bw) / 2, (height - bh) / 2
    return (left, top, left + bw, top + bh)


def check_box(width, height, size):
    """``cover_box`` lies inside the picture and within 1e-9 px of the exact box."""
    box = cover_box(width, height, size)
    left, top, right, bottom = box
    assert 0 <= left < right <= width and 0 <= top < bottom <= height, (width, height, box)
    exact = exact_box(width, height, size)
    assert max(abs(Fraction(a) - b) for a, b in zip(box, exact, strict=True)) <= 1e-9


@pytest.mark.parametrize("size", RESOLUTIONS)
def test_cover_box_lies_inside_every_picture_up_to_300_px(size):
    sides = np.arange(1, 301)
    width, height = (a.ravel() for a in np.meshgrid(sides, sides, indexing="ij"))
    box = np.array([cover_box(int(a), int(b), size) for a, b in zip(width, height, strict=True)])
    left, top, right, bottom = box.T
    assert (left >= 0).all() and (top >= 0).all()
    assert (right <= width).all() and (bottom <= height).all()
    assert (right > left).all() and (bottom > top).all()
    # exact_box, vectorised; one correctly rounded division each, 1e-13 px at most
    h, w = size
    wide = w * height >= h * width
    bw = np.where(wide, width, w * height / h)
    bh = np.where(wide, h * width / w, height)
    exact = np.stack([(width - bw) / 2, (height - bh) / 2, (width + bw) / 2, (height + bh) / 2])
    np.testing.assert_allclose(box.T, exact, rtol=0, atol=1e-9)


def test_cover_box_of_the_issue_photo_is_the_whole_picture():
    # 32 / (32 / 103) is 103.00000000000001: unclamped, the box started at -7e-15
    assert 32 / (32 / 103) > 103
    assert cover_box(103, 103, (32, 32)) == (0.0, 0.0, 103.0, 103.0)
    assert cover_box(49, 49, (64, 64)) == (0.0, 0.0, 49.0, 49.0)
    assert cover_box(40, 20, (10, 10)) == (10.0, 0.0, 30.0, 20.0)
    assert cover_box(20, 80, (48, 32)) == (0.0, 25.0, 20.0, 55.0)


def sweep_sizes():
    """Every side from 1 to 300 px: all squares, every width with a few heights, and every
    height with a few widths."""
    few = (1, 2, 103, 300)
    sizes = {(s, s) for s in SIDES}
    sizes |= {(s, t) for s in SIDES for t in few} | {(t, s) for s in SIDES for t in few}
    return sorted(sizes)


@pytest.mark.parametrize("size", RESOLUTIONS)
def test_fit_gives_the_size_for_every_side_up_to_300_px(size):
    pixels = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)
    gray = Image.fromarray(pixels)
    for width, height in sweep_sizes():
        out = np.asarray(fit(gray.crop((0, 0, width, height)), size))
        assert out.shape == size and out.dtype == np.uint8, (width, height)


def test_fit_of_rgb_pictures_keeps_three_channels():
    pixels = np.random.default_rng(1).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    rgb = Image.fromarray(pixels)
    for s in (49, 55, 95, 97, 98, 103, 107, 110, 111):
        for width, height in ((s, s), (s, 40), (40, s)):
            for size in RESOLUTIONS[:5]:
                out = np.asarray(fit(rgb.crop((0, 0, width, height)), size))
                assert out.shape == (*size, 3) and out.dtype == np.uint8


def halves(width, height, vertical=False):
    """Gray 64 on the left (top) half, 192 on the right (bottom), 128 on a middle line of an
    odd side: every pixel and its mirror image across the centre add up to 256."""
    side = height if vertical else width
    line = np.full(side, 64, np.uint8)
    line[side // 2 :] = 192
    if side % 2:
        line[side // 2] = 128
    a = np.tile(line[:, None], (1, width)) if vertical else np.tile(line, (height, 1))
    return Image.fromarray(a)


@pytest.mark.parametrize("size", RESOLUTIONS[:5])
@pytest.mark.parametrize("side", [49, 55, 95, 97, 98, 103, 107, 110, 111, 120])
def test_fit_crops_the_centre(side, size):
    # a centred crop keeps the symmetry: out[j] + out[mirror of j] = 256 up to rounding;
    # a crop one source pixel off centre moves the edge and breaks it by far more than 1
    for width, height, vertical in ((side, side, False), (side, 40, False), (40, side, True)):
        out = np.asarray(fit(halves(width, height, vertical), size)).astype(int)
        if vertical:
            out = out.T
        total = out + out[:, ::-1]
        assert np.abs(total - 256).max() <= 1, (width, height, size)
        assert out[:, 0].max() < 128 < out[:, -1].min()


@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    size=st.tuples(st.integers(1, 1024), st.integers(1, 1024)),
)
def test_cover_box_lies_inside_any_picture(width, height, size):
    check_box(width, height, size)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    size=st.tuples(st.integers(1, 96), st.integers(1, 96)),
    mode=st.sampled_from(["L", "RGB"]),
)
def test_fit_gives_the_size_of_any_picture(width, height, size, mode):
    im = Image.new(mode, (width, height), 200 if mode == "L" else (200, 10, 10))
    out = np.asarray(fit(im, size))
    assert out.shape == (size if mode == "L" else (*size, 3)) and out.dtype == np.uint8
    # a flat picture stays flat: the filters' weights add up to one
    assert (out == (200 if mode == "L" else (200, 10, 10))).all()
