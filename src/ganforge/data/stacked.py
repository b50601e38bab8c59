"""Stacked MNIST: three ``mnist`` digits as the red, green and blue channels of one picture.

A picture's class is its digit triple ``(r, g, b)``, numbered ``100 r + 10 g + b``, so the
set has 1,000 classes (modes). The pictures are built from the 5,000 ``mnist`` images of the
``mnist`` built-in with a fixed seed, so ``stacked-mnist`` is the same set everywhere.
"""

from __future__ import annotations

import numpy as np

from ganforge.data.imageset import ImageSet
from ganforge.errors import GanforgeError

N_DIGITS = 10
N_MODES = N_DIGITS**3  # digit triples
STACKED_SIZE = 50_000
"""Pictures in ``stacked-mnist``: 50 of each triple, so every mode is present and all are
equally common, and ten times the 5,000 one-channel images it is made from."""
STACKED_SEED = 1000
"""Seed of the draws that build ``stacked-mnist``."""


def triple_label(digits: np.ndarray) -> np.ndarray:
    """Digit triples ``(N, 3)`` (red, green, blue) as mode numbers ``100 r + 10 g + b``."""
    digits = np.asarray(digits, dtype=np.int64)
    if digits.ndim != 2 or digits.shape[1] != 3:
        raise GanforgeError(f"digit triples must have shape (N, 3), got {digits.shape}")
    if len(digits) and (digits.min() < 0 or digits.max() >= N_DIGITS):
        raise GanforgeError(
            f"digits range over [{digits.min()}, {digits.max()}]; they must lie in 0..9"
        )
    return digits @ np.array([N_DIGITS**2, N_DIGITS, 1], dtype=np.int64)


def stack_digits(
    digits: ImageSet, n: int = STACKED_SIZE, seed: int = STACKED_SEED, name: str = "stacked-mnist"
) -> ImageSet:
    """Stacks one-channel digit pictures three at a time into ``n`` colour pictures.

    The triples are balanced: mode ``k`` is the label of pictures ``i`` with
    ``i mod 1000 = k``, in a seeded random order, so with ``n`` a multiple of 1,000 every
    triple occurs ``n / 1000`` times. Each channel's picture is then drawn, independently and
    with replacement, among the pictures of its digit.

    Args:
        digits: labelled one-channel pictures ``(M, H, W, 1)`` with labels 0..9, each digit
            present at least once (e.g. ``load_images("mnist")``).
        n: number of pictures to make.
        seed: seed of the triples' order and of the picture draws.
        name: the returned set's name.

    Returns:
        An :class:`ImageSet` of ``uint8`` pictures ``(n, H, W, 3)``, labels
        ``100 r + 10 g + b`` and classes ``"000"`` to ``"999"``.
    """
    if n < 1:
        raise GanforgeError(f"a stacked set needs at least one picture, got n = {n}")
    if digits.labels is None or digits.images.shape[3] != 1:
        raise GanforgeError(
            "stacking needs labelled one-channel digit pictures (N, H, W, 1), got shape "
            f"{digits.images.shape}{'' if digits.labels is not None else ' without labels'}"
        )
    counts = np.bincount(digits.labels, minlength=N_DIGITS)
    if len(counts) != N_DIGITS or counts.min() == 0:
        raise GanforgeError(
            f"stacking needs labels 0..9, each at least once; got counts {counts.tolist()}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % N_MODES)
    triples = np.stack([labels // 100, labels // 10 % 10, labels % 10], axis=1)  # (n, 3)
    by_digit = np.argsort(digits.labels, kind="stable")  # picture indices grouped by digit
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picks = by_digit[starts[triples] + rng.integers(0, counts[triples])]  # (n, 3)
    images = digits.images[picks, :, :, 0].transpose(0, 2, 3, 1)  # (n, H, W, 3)
    classes = [f"{k:03d}" for k in range(N_MODES)]
    return ImageSet(images=np.ascontiguousarray(images), labels=labels, classes=classes, name=name)


__all__ = [
    "N_MODES",
    "STACKED_SEED",
    "STACKED_SIZE",
    "stack_digits",
    "triple_label",
]
