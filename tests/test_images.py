import gzip
import io
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from ganforge.data.images import (
    ImageSet,
    ImageSource,
    is_image_path,
    load_images,
    parse_resolution,
    read_idx,
    to_uint8,
    write_idx,
)
from ganforge.errors import GanforgeError

RED, GREEN, BLUE = (200, 10, 10), (10, 200, 10), (10, 10, 200)


def noise(h, w, c=3, seed=0):
    shape = (h, w) if c == 1 else (h, w, c)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(path, im, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def palette_image(w, h):
    """Palette PNG content: index 0 red, 1 green, 2 transparent; columns cycle 0, 1, 2."""
    im = Image.new("P", (w, h))
    im.putpalette([*RED, *GREEN, 0, 0, 0])
    im.putdata([x % 3 for _ in range(h) for x in range(w)])
    return im


@pytest.fixture
def mixed(tmp_path):
    """Two classes, five formats, odd sizes: one gray file, four colour ones."""
    root = tmp_path / "mixed"
    save(root / "cat" / "a.png", Image.fromarray(noise(17, 13, 1)))
    save(root / "cat" / "b.JPG", Image.fromarray(noise(25, 40)), quality=90)
    save(root / "dog" / "c.png", palette_image(21, 30), transparency=2)
    save(root / "dog" / "d.bmp", Image.fromarray(noise(9, 11, seed=1)))
    save(root / "dog" / "deep" / "e.webp", Image.fromarray(noise(40, 25, seed=2)))
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize(
    ("resolution", "channels", "shape"),
    [
        (16, "auto", (5, 16, 16, 3)),
        ("12x20", "auto", (5, 12, 20, 3)),
        ("16", "gray", (5, 16, 16, 1)),
        ((12, 20), "rgb", (5, 12, 20, 3)),
    ],
)
def test_mixed_folder_loads_to_the_requested_shape(mixed, resolution, channels, shape):
    s = load_images(mixed, resolution=resolution, channels=channels)
    assert s.images.shape == shape and s.images.dtype == np.uint8
    assert s.shape == (shape[3], shape[1], shape[2])
    assert s.classes == ["cat", "dog"]
    assert s.labels.dtype == np.int64
    assert s.labels.tolist() == [0, 0, 1, 1, 1]
    assert s.skipped == [] and s.name == str(mixed)
    assert is_image_path(mixed)


def test_auto_channels_take_the_majority_and_rgb_wins_ties(tmp_path):
    for i in range(2):
        save(tmp_path / "gray" / f"{i}.png", Image.fromarray(noise(8, 8, 1, seed=i)))
        save(tmp_path / "tie" / f"{i}.png", Image.fromarray(noise(8, 8, 1, seed=i)))
        # L with alpha counts as gray, a palette image counts as colour
        save(tmp_path / "gray" / f"a{i}.png", Image.fromarray(noise(8, 8, 1)).convert("LA"))
    save(tmp_path / "gray" / "c.png", Image.fromarray(noise(8, 8)))
    save(tmp_path / "tie" / "c.png", Image.fromarray(noise(8, 8)))
    save(tmp_path / "tie" / "p.png", palette_image(8, 8))
    gray = load_images(tmp_path / "gray")
    assert gray.images.shape == (5, 8, 8, 1)
    assert gray.labels is None and gray.classes is None  # files lie directly in the root
    assert load_images(tmp_path / "tie").images.shape == (4, 8, 8, 3)


def test_palette_alpha_and_high_bit_images_convert_correctly(tmp_path):
    save(tmp_path / "p.png", palette_image(6, 2), transparency=2)
    rgb = load_images(tmp_path, channels="rgb").images[0]
    assert rgb[:, 0].tolist() == [list(RED)] * 2
    assert rgb[:, 1].tolist() == [list(GREEN)] * 2
    assert rgb[:, 2].tolist() == [[255, 255, 255]] * 2  # transparent: the white background
    gray = load_images(tmp_path, channels="gray").images[0, :, :, 0]
    expected_red = round((RED[0] * 299 + RED[1] * 587 + RED[2] * 114) / 1000)
    assert abs(int(gray[0, 0]) - expected_red) <= 1 and gray[0, 2] == 255

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0] = (0, 0, 255, 255)  # opaque blue
    rgba[1] = (0, 0, 255, 0)  # transparent
    save(tmp_path / "a" / "x.webp", Image.fromarray(rgba), lossless=True)
    out = load_images(tmp_path / "a").images[0]
    assert out[0].tolist() == [[0, 0, 255]] * 2 and out[1].tolist() == [[255] * 3] * 2

    deep = np.array([[0, 257 * 100, 65535]], np.uint16)
    save(tmp_path / "b" / "x.png", Image.fromarray(deep))
    s = load_images(tmp_path / "b")
    assert s.images.shape == (1, 1, 3, 1) and s.images[0, 0, :, 0].tolist() == [0, 100, 255]


def thirds(w, h, colours, vertical=False):
    """An image cut into three equal stripes, left to right (or top to bottom)."""
    a = np.zeros((h, w, 3), np.uint8)
    for i, colour in enumerate(colours):
        if vertical:
            a[i * h // 3 : (i + 1) * h // 3] = colour
        else:
            a[:, i * w // 3 : (i + 1) * w // 3] = colour
    return Image.fromarray(a)


def test_resize_and_centre_crop_keep_the_middle(tmp_path):
    save(tmp_path / "wide" / "x.png", thirds(30, 10, (RED, GREEN, BLUE)))
    save(tmp_path / "tall" / "x.png", thirds(10, 30, (RED, GREEN, BLUE), vertical=True))
    for name in ("wide", "tall"):
        out = load_images(tmp_path / name, resolution=10).images
        assert out.shape == (1, 10, 10, 3)
        assert (out == GREEN).all(), name
    # scaled down by 2: the filter rings a little at the edges, the inside stays exactly green
    save(tmp_path / "big" / "x.png", thirds(60, 20, (RED, GREEN, BLUE)))
    out = load_images(tmp_path / "big", resolution=10).images[0].astype(int)
    assert (out[:, 3:7] == GREEN).all()
    assert np.abs(out - GREEN).max() < 20  # red or blue leaking in would differ by 190
    # enlarged: aspect ratio kept, the centre colour fills a wider crop too
    save(tmp_path / "up" / "x.png", thirds(90, 15, (RED, GREEN, BLUE)))
    out = load_images(tmp_path / "up", resolution="20x30").images[0].astype(int)
    assert out.shape == (20, 30, 3) and (out[:, 6:24] == GREEN).all()


def test_exif_orientation_turns_the_photo_upright(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :10], a[:, 10:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: the left half on top
    save(tmp_path / "x.jpg", Image.fromarray(a), exif=exif.tobytes(), quality=95)
    out = load_images(tmp_path).images[0].astype(int)
    assert out.shape == (20, 10, 3)
    assert np.abs(out[:8] - RED).max() < 30 and np.abs(out[12:] - BLUE).max() < 30


def test_resize_is_identity_when_the_size_matches(tmp_path):
    pixels = noise(16, 12)
    save(tmp_path / "x.png", Image.fromarray(pixels))
    np.testing.assert_array_equal(load_images(tmp_path, resolution="16x12").images[0], pixels)
    x = noise(16, 12, seed=3)[None]
    np.testing.assert_array_equal(load_images(x, resolution=(16, 12)).images, x)
    # a crop without scaling moves whole pixels
    y = load_images(x, resolution=12).images
    np.testing.assert_array_equal(y, x[:, 2:14])


@pytest.mark.parametrize("resolution", [28, 32, 64, "32x48", "48x32"])
def test_photos_of_awkward_sizes_load_at_every_resolution(tmp_path, resolution):
    # sizes whose source box came out a hair larger than the picture, and extreme shapes
    files = [
        ("a.jpg", noise(103, 103), {"quality": 90}),
        ("b.jpg", noise(110, 107, 1), {"quality": 90}),
        ("c.png", noise(49, 49, 1), {}),
        ("d.png", noise(97, 55), {}),
        ("e.png", noise(111, 98, 4), {}),
        ("f.png", noise(1, 300), {}),
        ("g.png", noise(300, 1, 1), {}),
    ]
    for name, pixels, options in files:
        save(tmp_path / name, Image.fromarray(pixels), **options)
    h, w = parse_resolution(resolution)
    for channels, c in (("auto", 3), ("gray", 1)):
        s = load_images(tmp_path, resolution=resolution, channels=channels)
        assert s.images.shape == (7, h, w, c) and s.images.dtype == np.uint8
        assert s.skipped == []
    arrays = np.stack([noise(103, 103, seed=i) for i in range(2)])
    assert load_images(arrays, resolution=resolution).images.shape == (2, h, w, 3)


def test_arrays_follow_resolution_and_channels():
    x = np.stack([noise(8, 8, seed=i) for i in range(3)])
    gray = load_images(x, channels="gray", resolution=4).images
    assert gray.shape == (3, 4, 4, 1)
    lum = np.asarray(Image.fromarray(x[1]).convert("L"))
    full = load_images(x, channels="gray").images[1, :, :, 0]
    np.testing.assert_array_equal(full, lum)
    rgb = load_images(x[:, :, :, :1], channels="rgb").images
    assert rgb.shape == (3, 8, 8, 3) and (rgb == x[:, :, :, :1]).all()
    assert load_images(torch.from_numpy(x)).images.shape == (3, 8, 8, 3)


def good_folder(tmp_path):
    root = tmp_path / "data"
    for i in range(3):
        save(root / f"g{i}.png", Image.fromarray(noise(6, 6, seed=i)))
    return root


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width, height):
    """A PNG header for a picture of ``width x height`` (no pixel data follows)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


def png_with_huge_text():
    """A valid 4x4 PNG carrying 2 MiB of compressed text, more than Pillow accepts."""
    info = PngImagePlugin.PngInfo()
    info.add_text("note", "a" * (2 << 20), zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.mark.parametrize("channels", ["auto", "rgb"])
@pytest.mark.parametrize(
    ("bad", "content"),
    [
        ("bad.png", np.random.default_rng(0).bytes(300)),
        ("empty.jpg", b""),
        ("cut.png", "truncated"),
        ("bomb.png", png_claiming(30_000, 30_000)),  # DecompressionBombError
        ("text.png", png_with_huge_text()),  # ValueError
    ],
)
def test_unreadable_files_are_named_or_skipped(tmp_path, bad, content, channels):
    root = good_folder(tmp_path)
    if content == "truncated":
        save(tmp_path / "whole.png", Image.fromarray(noise(64, 64)))
        content = (tmp_path / "whole.png").read_bytes()[:400]
    (root / bad).write_bytes(content)
    with pytest.raises(GanforgeError, match=rf"{bad}.*--skip-bad-files") as caught:
        load_images(root, channels=channels)
    assert ".;" not in str(caught.value)  # Pillow's full stop is not left before ours
    s = load_images(root, channels=channels, skip_bad_files=True)
    assert s.images.shape == (3, 6, 6, 3)
    assert s.skipped == [str(root / bad)]


@pytest.mark.parametrize("step", ["convert", "fit"])
def test_a_failure_after_decoding_is_a_bug_not_a_bad_file(tmp_path, monkeypatch, step):
    def broken(*args):
        raise ValueError("box offset can't be negative")

    monkeypatch.setattr(f"ganforge.data.images.{step}", broken)
    root = good_folder(tmp_path)
    for skip_bad_files in (False, True):
        with pytest.raises(ValueError, match="box offset") as caught:
            load_images(root, resolution=4, skip_bad_files=skip_bad_files)
        assert not isinstance(caught.value, GanforgeError)


def test_empty_missing_and_all_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match=r"empty.*\.png, \.jpg"):
        load_images(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("hello")
    with pytest.raises(GanforgeError, match=r"holds no image files.*\.webp"):
        load_images(tmp_path / "text")
    with pytest.raises(GanforgeError, match="nowhere.*does not exist"):
        load_images(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"")
    with pytest.raises(GanforgeError, match="none of the 1 image files"):
        load_images(tmp_path / "bad", skip_bad_files=True)
    (tmp_path / "one.txt").write_text("x")
    with pytest.raises(GanforgeError, match="cannot read .*one.txt as images"):
        load_images(tmp_path / "one.txt")


def test_different_sizes_need_a_resolution(tmp_path):
    save(tmp_path / "a.png", Image.fromarray(noise(17, 13)))
    save(tmp_path / "b.png", Image.fromarray(noise(25, 40)))
    with pytest.raises(GanforgeError, match=r"17x13 .*a\.png.*25x40 .*b\.png.*--resolution"):
        load_images(tmp_path)
    assert load_images(tmp_path, resolution=8).images.shape == (2, 8, 8, 3)


def test_parse_resolution():
    assert parse_resolution(None) is None
    assert parse_resolution("") is None
    assert parse_resolution(0) is None
    assert parse_resolution("32") == (32, 32)
    assert parse_resolution(32) == (32, 32)
    assert parse_resolution("32x48") == (32, 48)
    # NumPy integers, and pairs as a tuple or as the list that config.json makes of one
    assert parse_resolution(np.int64(32)) == (32, 32)
    assert parse_resolution((np.int32(8), 12)) == (8, 12)
    assert parse_resolution((32, 48)) == parse_resolution(json.loads("[32, 48]")) == (32, 48)
    bad_values = ("abc", "32x", "x32", "-4", -4, "0x8", "3.5", "32x48x2", 32.0, 3.5, True)
    bad_pairs = ((0, 5), (32.0, 48), (True, 4), (32,), (1, 2, 3), [])
    for bad in (*bad_values, *bad_pairs):
        with pytest.raises(GanforgeError, match="give N or HxW, e.g. 32 or 32x48"):
            parse_resolution(bad)
    with pytest.raises(GanforgeError, match="channels 'cmyk'"):
        load_images(np.zeros((1, 2, 2), np.uint8), channels="cmyk")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    for i, x in enumerate(
        [
            noise(5, 7, 1, seed=4),
            np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 10,
            np.linspace(-1, 1, 6, dtype=np.float32),
            np.arange(3, dtype=np.float64),
        ]
    ):
        path = tmp_path / f"a{i}-idx{suffix}"
        write_idx(path, x)
        y = read_idx(path)
        assert y.dtype == x.dtype and y.shape == x.shape
        np.testing.assert_array_equal(y, x)
    raw = (tmp_path / f"a0-idx{suffix}").read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert raw[:4] == bytes([0, 0, 8, 2]) and raw[4:12] == bytes([0, 0, 0, 5, 0, 0, 0, 7])


def test_idx_images_and_labels_load_as_a_pair(tmp_path):
    x = np.stack([noise(6, 5, 1, seed=i) for i in range(12)])
    y = np.arange(12, dtype=np.uint8) % 4
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "train-labels-idx1-ubyte", y)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", x[:3])
    s = load_images(tmp_path / "train-images-idx3-ubyte.gz")
    assert s.images.shape == (12, 6, 5, 1)
    np.testing.assert_array_equal(s.images[..., 0], x)
    assert s.labels.tolist() == y.tolist() and s.classes == ["0", "1", "2", "3"]
    unlabelled = load_images(tmp_path / "t10k-images-idx3-ubyte", resolution=4)
    assert unlabelled.labels is None and unlabelled.images.shape == (3, 4, 4, 1)
    assert is_image_path(tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(GanforgeError, match="labels file"):
        load_images(tmp_path / "train-labels-idx1-ubyte")
    (tmp_path / "cut-idx").write_bytes((tmp_path / "t10k-images-idx3-ubyte").read_bytes()[:-1])
    with pytest.raises(GanforgeError, match="truncated"):
        read_idx(tmp_path / "cut-idx")
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(GanforgeError, match="not an IDX file"):
        read_idx(tmp_path / "junk")


def test_npy_and_npz_round_trips(tmp_path):
    x = np.stack([noise(4, 5, seed=i) for i in range(6)])
    y = np.array([2, 0, 1, 2, 0, 1])
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "g.npy", x[..., 0])
    np.savez(tmp_path / "b.npz", x=x, y=y)
    np.savez(tmp_path / "c.npz", images=x, labels=y)
    np.savez_compressed(tmp_path / "d.npz", x)
    for name in ("a.npy", "b.npz", "c.npz", "d.npz"):
        s = load_images(tmp_path / name)
        np.testing.assert_array_equal(s.images, x)
        assert is_image_path(tmp_path / name)
        if name in ("b.npz", "c.npz"):
            assert s.labels.tolist() == y.tolist() and s.classes == ["0", "1", "2"]
    assert load_images(tmp_path / "g.npy").images.shape == (6, 4, 5, 1)


def test_wrong_arrays_are_explained(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((3, 4, 4, 3), np.float32))
    with pytest.raises(GanforgeError, match=r"expected uint8 images of shape \(N, H, W, C\)"):
        load_images(tmp_path / "f.npy")
    with pytest.raises(GanforgeError, match=r"transpose\(0, 2, 3, 1\)"):
        load_images(np.zeros((3, 3, 8, 8), np.uint8))
    with pytest.raises(GanforgeError, match=r"\(3, 4, 4, 4\)"):
        load_images(np.zeros((3, 4, 4, 4), np.uint8))
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 3, 3), np.uint8), b=np.zeros(2))
    with pytest.raises(GanforgeError, match="name it 'x' or 'images'"):
        load_images(tmp_path / "two.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((2, 3, 3), np.uint8), y=np.zeros(3, int))
    with pytest.raises(GanforgeError, match="expected 2 non-negative integer labels"):
        load_images(tmp_path / "short.npz")
    np.save(tmp_path / "points.npy", np.zeros((10, 2), np.float32))
    (tmp_path / "p.csv").write_text("1,2\n3,4\n")
    assert not is_image_path(tmp_path / "points.npy")
    assert not is_image_path(tmp_path / "p.csv")
    assert not is_image_path(tmp_path / "missing.npy")
    assert not is_image_path(tmp_path / "two.npz")


def test_digits_builtin():
    s = load_images("digits")
    assert s.images.shape == (1797, 8, 8, 1) and s.images.dtype == np.uint8
    assert s.images.min() == 0 and s.images.max() == 255
    assert set(np.unique(s.images)) <= {round(v * 255 / 16) for v in range(17)}
    assert s.classes == [str(i) for i in range(10)]
    assert np.bincount(s.labels).min() > 150
    rgb = load_images("digits", channels="rgb", resolution=16)
    assert rgb.images.shape == (1797, 16, 16, 3)


def test_mnist_builtin():
    s = load_images("mnist")
    assert s.images.shape == (5000, 28, 28, 1) and s.images.dtype == np.uint8
    assert s.images.min() == 0 and s.images.max() == 255
    assert s.name == "mnist" and s.classes == [str(i) for i in range(10)]
    assert np.bincount(s.labels, minlength=10).min() > 400
    big = load_images("mnist", resolution=32)
    assert big.images.shape == (5000, 32, 32, 1) and big.labels.tolist() == s.labels.tolist()


def numbered(n, h=4, w=6, c=3, seed=0):
    """``n`` random images; image ``i`` carries ``i`` in its first pixel's red channel."""
    x = np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n)
    return ImageSet(images=x, name="numbered")


def ids(batch):
    return to_uint8(batch)[:, 0, 0, 0].tolist()


def test_source_maps_pixels_to_minus_one_one_exactly():
    levels = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None, None, None], (256, 2, 3, 1))
    src = ImageSource(ImageSet(images=levels.copy(), name="levels"), seed=0)
    assert len(src) == 256 and src.shape == (1, 2, 3) and src.mixture is None
    x = src.batch(256)
    assert x.dtype == torch.float32 and x.shape == (256, 1, 2, 3)
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    values = x[:, 0, 0, 0]
    order = values.argsort()
    assert values[order[0]].item() == -1.0 and values[order[-1]].item() == 1.0
    np.testing.assert_array_equal(to_uint8(x)[order.numpy()], levels)
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    assert (to_uint8(u.float() / 127.5 - 1)[0, :, :, 0] == u[0, 0].numpy()).all()
    assert to_uint8(torch.tensor([-3.0, 2.0]).reshape(1, 2, 1, 1)).ravel().tolist() == [0, 255]


def test_same_seed_same_batches_and_each_epoch_covers_all():
    data = numbered(24)
    a, b, c = (ImageSource(data, seed=s) for s in (5, 5, 6))
    run_a = [ids(a.batch(6)) for _ in range(8)]
    assert run_a == [ids(b.batch(6)) for _ in range(8)]
    assert run_a != [ids(c.batch(6)) for _ in range(8)]
    first, second = sum(run_a[:4], []), sum(run_a[4:], [])
    assert sorted(first) == sorted(second) == list(range(24))
    assert first != second


def test_last_short_batch_is_dropped_and_batch_size_may_change():
    src = ImageSource(numbered(10), seed=1)
    ref = ImageSource(numbered(10), seed=1)
    epoch0 = ids(ref.batch(10))
    epoch1 = ids(ref.batch(10))
    assert ids(src.batch(4)) + ids(src.batch(4)) == epoch0[:8]
    assert ids(src.batch(4)) == epoch1[:4]  # two left over: dropped
    assert ids(src.batch(2)) == epoch1[4:6]
    with pytest.raises(GanforgeError, match=r"batch size 11 is larger than the data \(10 images"):
        src.batch(11)
    with pytest.raises(GanforgeError, match="--batch-size"):
        src.check_batch_size(0)


def test_state_dict_resumes_bitwise_with_hflip():
    data = numbered(10)
    src = ImageSource(data, seed=3, hflip=True)
    states, batches = [], []
    for _ in range(10):  # batch size 4: two full batches per epoch, boundaries after 2, 4, ...
        states.append(src.state_dict())
        batches.append(src.batch(4))
    for k in (1, 2, 3, 4):
        resumed = ImageSource(data, seed=3, hflip=True)
        resumed.load_state_dict(states[k])
        for expected in batches[k : k + 5]:
            assert torch.equal(resumed.batch(4), expected)


def test_hflip_mirrors_about_half():
    data = numbered(200, h=3, w=5, c=1, seed=7)
    originals = {im.tobytes(): i for i, im in enumerate(data.images)}
    src = ImageSource(data, seed=0, hflip=True)
    out = to_uint8(src.batch(200))
    flipped = 0
    for im in out:
        if im.tobytes() in originals:
            continue
        assert im[:, ::-1].tobytes() in originals
        flipped += 1
    assert 70 < flipped < 130
    plain = ImageSource(data, seed=0)
    assert all(im.tobytes() in originals for im in to_uint8(plain.batch(200)))


def test_reference_draws_distinct_real_images():
    data = numbered(12)
    src = ImageSource(data, seed=0)
    ref = src.reference(5, seed=2)
    assert ref.shape == (5, 4, 6, 3) and ref.dtype == np.uint8
    picked = ref[:, 0, 0, 0].tolist()
    assert len(set(picked)) == 5
    np.testing.assert_array_equal(ref, data.images[picked])
    np.testing.assert_array_equal(src.reference(5, seed=2), ref)
    assert src.reference(50).shape == (12, 4, 6, 3)


def test_a_batch_is_one_indexing_not_one_call_per_image(monkeypatch):
    from ganforge.data import image_source

    def one_by_one(self, index):
        raise AssertionError("the loader fetched images one at a time")

    monkeypatch.setattr(image_source._ImageTensor, "__getitem__", one_by_one)
    src = ImageSource(numbered(8), seed=0)
    assert sorted(ids(src.batch(4)) + ids(src.batch(4))) == list(range(8))
