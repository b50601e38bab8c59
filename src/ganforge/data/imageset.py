"""Pictures in memory: an :class:`ImageSet` of ``uint8`` pixels ``(N, H, W, C)`` with
optional classes, its checks, and the conversion of network output back to pixels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import GanforgeError

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
