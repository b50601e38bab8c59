"""Image data: built-in sets, folders of image files, ``uint8`` arrays and MNIST-style IDX files.

:func:`load_images` reads any of these into an :class:`ImageSet` of ``uint8`` pixels
``(N, H, W, C)``; :class:`ImageSource` serves one as seeded batches of floats in ``[-1, 1]``,
channels first, for training.
"""

from __future__ import annotations

import operator
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ganforge.data.builtin_pictures import digits, mnist, stacked_mnist
from ganforge.data.idx import _idx_header, _load_idx, read_idx, write_idx
from ganforge.data.image_source import ImageSource
from ganforge.data.imageset import ImageSet, _check_images, _check_labels, to_uint8
from ganforge.data.picture import DECODE_ERRORS, convert, decode, fit
from ganforge.errors import GanforgeError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
"""File endings read from an image folder (compared case-insensitively)."""

IMAGE_BUILTIN = ("digits", "mnist", "stacked-mnist")
"""Names of the built-in image sets."""

CHANNELS = ("auto", "gray", "rgb")
"""Accepted values of ``channels``."""

GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
"""Pillow modes that count as grayscale when ``channels="auto"`` takes the majority."""

_IMAGE_KEYS = ("x", "images")
_LABEL_KEYS = ("y", "labels")


def parse_resolution(text: str | int | Sequence[int] | None) -> tuple[int, int] | None:
    """Reads ``--resolution``: ``"32"`` or ``32`` is ``(32, 32)``; ``"32x48"``, ``(32, 48)``
    and ``[32, 48]`` (how config.json keeps a pair) are ``(H, W)``.

    ``None``, ``""`` and ``0`` mean "keep the images' own size" and give ``None``. Numbers
    may be Python or NumPy integers; floats are refused, whole ones too.

    Raises:
        GanforgeError: anything else, or a size that is not positive.
    """
    if text is None or (isinstance(text, str) and text.strip() in ("", "0")):
        return None
    size: tuple[int, int] | None = None
    if isinstance(text, str):
        m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
        if m:
            size = (int(m[1]), int(m[2] or m[1]))
    elif isinstance(text, (tuple, list)):
        sides = [_integer(v) for v in text]
        if len(sides) == 2 and None not in sides:
            size = (sides[0], sides[1])
    else:
        side = _integer(text)
        if side == 0:
            return None
        size = None if side is None else (side, side)
    if size is None or min(size) <= 0:
        raise GanforgeError(f"--resolution {text!r} is not a size: give N or HxW, e.g. 32 or 32x48")
    return size


def _integer(value: object) -> int | None:
    """``value`` as an int when it is an integer (NumPy's too, never a bool or a float)."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def load_images(
    data: str | Path | np.ndarray | Tensor,
    *,
    resolution: str | int | Sequence[int] | None = None,
    channels: str = "auto",
    skip_bad_files: bool = False,
) -> ImageSet:
    """Reads an image set from a built-in name, a path or an in-memory array.

    Args:
        data: ``"digits"``, ``"mnist"`` or ``"stacked-mnist"``; a folder of image files
            (searched recursively; first-level sub-folders name the classes when every image
            lies in one); a ``.npy`` or ``.npz`` file or an array of ``uint8`` pixels
            ``(N, H, W, C)`` or ``(N, H, W)``; or an IDX file (MNIST format, optionally
            gzipped) with its labels file beside it.
        resolution: a size as :func:`parse_resolution` reads it: every image is scaled to
            cover it, keeping its aspect ratio, and centre-cropped to it exactly.
        channels: ``"gray"`` or ``"rgb"`` to convert; ``"auto"`` keeps an array's channels
            and, for a folder, takes the kind most of its files have (RGB on a tie).
        skip_bad_files: leave out unreadable image files (listed in ``skipped``) instead of
            stopping at the first one.

    Raises:
        GanforgeError: missing or unreadable data, no images, wrong dtype or shape, images of
            different sizes without ``resolution``, or a bad ``resolution`` or ``channels``.
    """
    size = parse_resolution(resolution)
    if channels not in CHANNELS:
        raise GanforgeError(f"channels {channels!r} is unknown; choose one of: auto, gray, rgb")
    if isinstance(data, (np.ndarray, Tensor)):
        x = data.detach().cpu().numpy() if isinstance(data, Tensor) else data
        found = ImageSet(images=_check_images(x, "array"), name="array")
    elif str(data) in IMAGE_BUILTIN:
        loaders = {"digits": digits, "mnist": mnist, "stacked-mnist": stacked_mnist}
        found = loaders[str(data)]()
    else:
        path = Path(data)
        if not path.exists():
            raise GanforgeError(
                f"image data {path} does not exist; give an existing folder or file, "
                f"or one of: {', '.join(IMAGE_BUILTIN)}"
            )
        if path.is_dir():
            return _load_folder(path, size, channels, skip_bad_files)
        found = _load_file(path)
    found.images = _resize_all(_set_channels(found.images, channels), size)
    return found


def is_image_path(path: str | Path) -> bool:
    """Whether a path holds images rather than a point set.

    True for a folder, an IDX file (by its header, or by ``idx`` in its name), and a
    ``.npy`` or ``.npz`` file whose array has 3 or 4 dimensions; False otherwise, including
    for missing paths and 2-D arrays (point sets).
    """
    path = Path(path)
    if path.is_dir():
        return True
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            ndim = array.ndim
            del array
            return ndim in (3, 4)
        if suffix == ".npz":
            return _npz_ndim(path) in (3, 4)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return False
    if suffix == ".csv":
        return False
    return "idx" in path.name.lower() or _idx_header(path) is not None


def _load_file(path: Path) -> ImageSet:
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return _load_array_file(path, suffix)
    if _idx_header(path) is not None:
        return _load_idx(path)
    raise GanforgeError(
        f"cannot read {path} as images: give a folder of image files, a .npy or .npz file of "
        "uint8 pixels (N, H, W, C), or an MNIST-style IDX file"
    )


def _load_array_file(path: Path, suffix: str) -> ImageSet:
    labels = None
    try:
        if suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                key = _npz_image_key(keys)
                if key is None:
                    raise GanforgeError(
                        f"{path}: cannot tell which array holds the images among {keys}; "
                        "name it 'x' or 'images' (and the labels 'y' or 'labels')"
                    )
                x = z[key]
                label_key = next((k for k in _LABEL_KEYS if k in keys), None)
                labels = None if label_key is None else z[label_key]
    except GanforgeError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise GanforgeError(f"cannot read {path}: {e}; check that the file is intact") from None
    images = _check_images(x, str(path))
    found = ImageSet(images=images, name=str(path))
    if labels is not None:
        found.labels, found.classes = _check_labels(labels, len(images), f"{path} labels")
    return found


def _npz_image_key(keys: list[str]) -> str | None:
    for key in _IMAGE_KEYS:
        if key in keys:
            return key
    others = [k for k in keys if k not in _LABEL_KEYS]
    return others[0] if len(others) == 1 else None


def _npz_ndim(path: Path) -> int | None:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        keys = [n[:-4] if n.endswith(".npy") else n for n in names]
        key = _npz_image_key(keys)
        if key is None:
            return None
        with zf.open(names[keys.index(key)]) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                return len(np.lib.format.read_array_header_1_0(f)[0])
            if version == (2, 0):
                return len(np.lib.format.read_array_header_2_0(f)[0])
    with np.load(path, allow_pickle=False) as z:
        return z[key].ndim


def _load_folder(
    root: Path, size: tuple[int, int] | None, channels: str, skip_bad: bool
) -> ImageSet:
    files = sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(root).parts,
    )
    if not files:
        what = "is empty" if not any(root.iterdir()) else "holds no image files"
        raise GanforgeError(
            f"folder {root} {what}; images are read from files ending "
            f"{', '.join(SUFFIXES)} (in sub-folders too)"
        )
    skipped: list[str] = []

    def unreadable(path: Path, error: Exception) -> None:
        if not skip_bad:
            raise GanforgeError(
                f"cannot read image {path}: {_why(path, error)}; fix or remove it, "
                "or pass --skip-bad-files to leave out unreadable files"
            )
        skipped.append(str(path))

    mode = {"gray": "L", "rgb": "RGB"}.get(channels)
    if mode is None:
        readable, gray = [], 0
        for path in files:
            try:
                with Image.open(path) as im:
                    gray += im.mode in GRAY_MODES
            except DECODE_ERRORS as e:
                unreadable(path, e)
                continue
            readable.append(path)
        files = readable
        mode = "L" if gray > len(files) - gray else "RGB"
    kept: list[Path] = []
    pixels: list[np.ndarray] = []
    for path in files:
        try:
            im = decode(path)
        except DECODE_ERRORS as e:
            unreadable(path, e)
            continue
        # convert and fit are our own code: an error there is a bug, not a bad file
        im = convert(im, mode)
        a = np.asarray(im if size is None else fit(im, size))
        if pixels and a.shape != pixels[0].shape:
            (h0, w0), (h1, w1) = pixels[0].shape[:2], a.shape[:2]
            raise GanforgeError(
                f"images in {root} differ in size (HxW), e.g. {h0}x{w0} ({kept[0]}) and "
                f"{h1}x{w1} ({path}); give --resolution N or HxW to resize them all"
            )
        kept.append(path)
        pixels.append(a)
    if not kept:
        raise GanforgeError(
            f"none of the {len(skipped)} image files in {root} could be read "
            f"(e.g. {skipped[0]}); fix or replace them"
        )
    images = np.stack(pixels)
    found = ImageSet(images=images.reshape(*images.shape[:3], -1), name=str(root))
    found.skipped = skipped
    parts = [p.relative_to(root).parts for p in kept]
    if all(len(q) > 1 for q in parts):
        found.classes = sorted({q[0] for q in parts})
        index = {c: i for i, c in enumerate(found.classes)}
        found.labels = np.array([index[q[0]] for q in parts], dtype=np.int64)
    return found


def _why(path: Path, error: Exception) -> str:
    try:
        if path.stat().st_size == 0:
            return "the file is empty (0 bytes)"
    except OSError:
        pass
    if isinstance(error, UnidentifiedImageError):
        return "not a recognisable image (corrupt, or not the format its name says)"
    return str(error).rstrip(".") or type(error).__name__  # the caller goes on with "; "


def _set_channels(x: np.ndarray, channels: str) -> np.ndarray:
    n, h, w, c = x.shape
    if channels == "gray" and c == 3:
        tall = Image.fromarray(np.ascontiguousarray(x).reshape(n * h, w, 3)).convert("L")
        return np.asarray(tall).reshape(n, h, w, 1)
    if channels == "rgb" and c == 1:
        return np.repeat(x, 3, axis=3)
    return x


def _resize_all(x: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or x.shape[1:3] == size:
        return x
    n, _, _, c = x.shape
    out = np.empty((n, *size, c), dtype=np.uint8)
    for i in range(n):
        im = Image.fromarray(np.ascontiguousarray(x[i, :, :, 0] if c == 1 else x[i]))
        out[i] = np.asarray(fit(im, size)).reshape(*size, c)
    return out


__all__ = [
    "IMAGE_BUILTIN",
    "ImageSet",
    "ImageSource",
    "is_image_path",
    "load_images",
    "parse_resolution",
    "read_idx",
    "to_uint8",
    "write_idx",
]
