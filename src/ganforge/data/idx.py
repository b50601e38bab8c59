"""MNIST-format IDX files: reading and writing arrays, and image sets with their labels
file beside them."""

from __future__ import annotations

import gzip
import re
import zlib
from math import prod
from pathlib import Path

import numpy as np

from ganforge.data.imageset import ImageSet, _check_images, _check_labels
from ganforge.errors import GanforgeError

_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {
    ("u", 1): 0x08,
    ("i", 1): 0x09,
    ("i", 2): 0x0B,
    ("i", 4): 0x0C,
    ("f", 4): 0x0D,
    ("f", 8): 0x0E,
}


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an IDX file (the MNIST format), gzipped or not, into a native-order array.

    Raises:
        GanforgeError: the file is unreadable, lacks the IDX header, or is truncated.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise GanforgeError(f"cannot read {path}: {e}; check that the file is intact") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise GanforgeError(
            f"{path} is not an IDX file: it does not start with two zero bytes and a type byte"
        )
    ndim = raw[3]
    start = 4 + 4 * ndim
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    dims = tuple(int(d) for d in np.frombuffer(raw[4:start], ">u4")) if len(raw) >= start else ()
    needed = prod(dims) * dtype.itemsize
    if len(raw) < start or len(raw) - start != needed:
        raise GanforgeError(
            f"{path}: the IDX header calls for {ndim} dimensions {dims} but the file size does "
            "not match; the file is truncated or damaged"
        )
    array = np.frombuffer(raw, dtype, prod(dims), start).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Writes an array as an IDX file (big-endian sizes and values); gzipped if ``path``
    ends with ``.gz``.

    Raises:
        GanforgeError: a dtype that IDX cannot hold (it holds uint8, int8, int16, int32,
            float32 and float64).
    """
    path = Path(path)
    array = np.asarray(array)
    code = _IDX_CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise GanforgeError(
            f"cannot write {array.dtype} to IDX file {path}; convert to uint8, int8, int16, "
            "int32, float32 or float64"
        )
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = np.ascontiguousarray(array, array.dtype.newbyteorder(">")).tobytes()
    if path.name.lower().endswith(".gz"):
        with path.open("wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as z:
            z.write(header + body)
    else:
        path.write_bytes(header + body)


def _idx_header(path: Path) -> bytes | None:
    try:
        with path.open("rb") as f:
            head = f.read(4)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                head = f.read(4)
    except (OSError, EOFError, zlib.error):
        return None
    if len(head) == 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES and head[3] > 0:
        return head
    return None


def _idx_labels_path(path: Path) -> Path | None:
    name = re.sub(r"images([-_.])idx3", r"labels\1idx1", path.name)
    if name == path.name:
        return None
    plain = name[:-3] if name.lower().endswith(".gz") else name
    for candidate in (name, plain, plain + ".gz"):
        if path.with_name(candidate).is_file():
            return path.with_name(candidate)
    return None


def _load_idx(path: Path) -> ImageSet:
    x = read_idx(path)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        hint = "; this looks like a labels file, give the images file" if x.ndim == 1 else ""
        raise GanforgeError(
            f"{path}: an IDX image file must hold ubyte images (N, H, W), "
            f"got {x.dtype} of shape {x.shape}{hint}"
        )
    found = ImageSet(images=_check_images(x, str(path)), name=str(path))
    labels_path = _idx_labels_path(path)
    if labels_path is not None:
        found.labels, found.classes = _check_labels(read_idx(labels_path), len(x), str(labels_path))
    return found
