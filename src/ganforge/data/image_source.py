"""Training batches of pictures: an :class:`ImageSet` served as seeded batches of floats
in ``[-1, 1]``, channels first."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ganforge.data.imageset import ImageSet
from ganforge.errors import GanforgeError


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
