"""One picture: decode its file, convert it to gray or RGB, and fit it to a size.

Only :func:`decode` touches the file, and only the errors of :data:`DECODE_ERRORS` that it
raises mean that the file cannot be read. :func:`convert` and :func:`fit` work on decoded
pixels: whatever they raise is a fault in ganforge, never in the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

BACKGROUND = 255
"""Gray level that transparent pixels are composited onto (white)."""

DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # UnidentifiedImageError, truncated or broken data
    SyntaxError,  # what Pillow's plugins raise for malformed headers and chunks
    ValueError,  # e.g. a PNG text chunk beyond Pillow's size limit
    EOFError,
    struct.error,
    Image.DecompressionBombError,  # Pillow refuses pictures of absurd size
)
"""What Pillow raises for a file it cannot decode."""

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_ORIENTATION = 0x0112  # the EXIF tag


def decode(path: Path) -> Image.Image:
    """The picture in ``path``, fully decoded and turned upright by its EXIF orientation.

    Raises:
        One of :data:`DECODE_ERRORS`: Pillow cannot read the file.
    """
    with Image.open(path) as opened:
        opened.load()  # the pixels now live in memory; closing the file keeps them
        if opened.getexif().get(_ORIENTATION, 1) != 1:
            return ImageOps.exif_transpose(opened)
        return opened


def convert(im: Image.Image, mode: str) -> Image.Image:
    """Converts to ``"L"`` or ``"RGB"``: high-bit gray scaled to 8 bits, alpha composited."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode != "F":
            a = a / 257  # 16-bit levels to 8-bit
        im = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8))
    elif im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (BACKGROUND,) * 3 + (255,)), rgba)
    return im if im.mode == mode else im.convert(mode)


def cover_box(width: int, height: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The centred part of a ``width x height`` picture that, scaled, covers ``size`` ``(H, W)``.

    The box ``(left, top, right, bottom)`` has the aspect ratio of ``size`` and spans the
    picture's full width or full height; it always lies inside the picture.
    """
    h, w = size
    scale = max(h / height, w / width)
    # w / scale can come out a hair beyond the picture (32 / (32 / 103) > 103), a box that
    # Pillow refuses: clamp it. Where the box was inside already, nothing changes.
    bw, bh = min(w / scale, width), min(h / scale, height)
    # With bw <= width, left >= 0 and left + bw <= width hold in floating point too: for
    # bw >= width / 2, width - bw is exact (Sterbenz); below, the margin is a quarter picture.
    left, top = (width - bw) / 2, (height - bh) / 2
    return (left, top, left + bw, top + bh)


def fit(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scales to cover ``size`` ``(H, W)`` keeping the aspect ratio, then centre-crops."""
    h, w = size
    iw, ih = im.size
    if (ih, iw) == (h, w):
        return im
    scale = max(h / ih, w / iw)
    if scale == 1:
        left, top = (iw - w) // 2, (ih - h) // 2
        return im.crop((left, top, left + w, top + h))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    return im.resize((w, h), resample, box=cover_box(iw, ih, size))


__all__ = ["BACKGROUND", "DECODE_ERRORS", "convert", "cover_box", "decode", "fit"]
