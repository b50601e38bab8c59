"""Data sources: built-in mixtures, pictures and users' arrays, as seeded batch streams."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganforge.data.arrays import check_points, load_points
from ganforge.data.images import (
    IMAGE_BUILTIN,
    SUFFIXES,
    ImageSource,
    is_image_path,
    load_images,
)
from ganforge.data.stream import ShuffledStream
from ganforge.data.toy import MIXTURES, GaussianMixture, grid, ring
from ganforge.errors import GanforgeError


class PointSource(ShuffledStream):
    """Batches of ``(B, d)`` points, standardised, from a mixture or a finite array.

    A mixture is sampled afresh for every batch; an array is shuffled once per epoch.
    All randomness comes from ``self.generator``.

    Attributes:
        name: the data set's name or path.
        dim: the dimension ``d``.
        mixture: the :class:`GaussianMixture` behind the data, when it is known.
        shift, scale: per-coordinate standardisation, ``x_std = (x - shift) / scale``.
    """

    def __init__(
        self,
        name: str,
        *,
        mixture: GaussianMixture | None = None,
        points: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.mixture = mixture
        self.generator = torch.Generator().manual_seed(seed)
        if mixture is not None:
            shift, scale = mixture.moments()
            self.points = None
            self.dim = mixture.dim
        else:
            assert points is not None
            shift, scale = points.mean(axis=0), points.std(axis=0)
            self.points = torch.as_tensor(points, dtype=torch.float32)
            self.dim = points.shape[1]
        self.shape = (self.dim,)
        self.labels = None
        scale = np.where(scale > 0, scale, 1.0)  # a constant column stays as it is
        self.shift = torch.as_tensor(shift, dtype=torch.float32)
        self.scale = torch.as_tensor(scale, dtype=torch.float32)
        self._start()

    def __len__(self) -> int:
        """Number of points in a finite set (0 for an endless mixture)."""
        return 0 if self.points is None else len(self.points)

    def check_batch_size(self, batch_size: int) -> None:
        """Raises when a finite set is smaller than one batch."""
        if self.points is not None and batch_size > len(self.points):
            raise GanforgeError(
                f"batch size {batch_size} is larger than the data ({len(self.points)} "
                "points); choose a smaller --batch-size"
            )

    def batch(self, batch_size: int) -> Tensor:
        """The next standardised batch ``(batch_size, d)``."""
        if self.points is None:
            x = self.mixture.sample(batch_size, self.generator)
        else:
            self.check_batch_size(batch_size)
            x = self.points[self._next_indices(len(self.points), batch_size)]
        return (x - self.shift) / self.scale

    def reference(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` real points in data units, for plots and metrics (not standardised)."""
        g = torch.Generator().manual_seed(seed)
        if self.points is None:
            return self.mixture.sample(n, g).numpy()
        idx = torch.randperm(len(self.points), generator=g)[:n]
        return self.points[idx].numpy()


BUILTIN = (*MIXTURES, *IMAGE_BUILTIN)
Source = PointSource | ImageSource


def data_kind(data: str | Path | np.ndarray | Tensor | None) -> str:
    """``"pictures"`` or ``"points"``: what kind of data a name, path or array holds.

    Unknown names and missing paths count as points; loading them gives the clear error.
    """
    if isinstance(data, (np.ndarray, Tensor)):
        return "pictures" if data.ndim in (3, 4) else "points"
    name = str(data)
    if name in IMAGE_BUILTIN:
        return "pictures"
    if name in MIXTURES:
        return "points"
    return "pictures" if is_image_path(Path(name)) else "points"


def load_data(
    data: str | Path | np.ndarray | Tensor,
    seed: int = 0,
    *,
    resolution: str | int | Sequence[int] = "",
    channels: str = "auto",
    hflip: bool = False,
    skip_bad_files: bool = False,
) -> Source:
    """A batch source for a built-in name, a file or folder path, or an in-memory array.

    Pictures give an :class:`ImageSource` (the keyword options apply to them), points a
    :class:`PointSource`.
    """
    if data_kind(data) == "pictures":
        if isinstance(data, Tensor):
            data = data.detach().cpu().numpy()
        images = load_images(
            data, resolution=resolution, channels=channels, skip_bad_files=skip_bad_files
        )
        return ImageSource(images, seed=seed, hflip=hflip)
    if isinstance(data, (np.ndarray, Tensor)):
        x = data.detach().cpu().numpy() if isinstance(data, Tensor) else data
        return PointSource("array", points=check_points(x, "array"), seed=seed)
    name = str(data)
    if name in MIXTURES:
        return PointSource(name, mixture=MIXTURES[name](), seed=seed)
    path = Path(name)
    if path.suffix.lower() in SUFFIXES:
        raise GanforgeError(
            f"{path} is a single picture; give the folder that holds the pictures "
            f"(e.g. {path.parent})"
        )
    if path.suffix or path.exists() or "/" in name:
        return PointSource(str(path), points=load_points(path), seed=seed)
    raise GanforgeError(
        f"unknown data set {name!r}; choose one of: {', '.join(BUILTIN)}, or give a path "
        "to a folder of images, IDX files, or a .npy, .npz or .csv file"
    )


__all__ = [
    "BUILTIN",
    "GaussianMixture",
    "ImageSource",
    "PointSource",
    "Source",
    "data_kind",
    "grid",
    "load_data",
    "ring",
]
