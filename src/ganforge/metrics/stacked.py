"""The Stacked MNIST protocol: modes covered and KL to uniform over the 1,000 digit triples.

As in VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018): each colour channel of
a generated picture is classified on its own by a digit classifier, the three digits form
the picture's mode, and the report is the number of distinct modes among the samples
(26,000 in those papers) and ``KL(p ‖ uniform)``, ``p`` the samples' shares of the 1,000
modes. That direction is the one defined for the ``rkl`` of the mixtures (DESIGN.md §5): a
sum over the modes the samples do reach, so it stays finite for a collapsed generator
(``log 1000`` at worst, all samples in one mode).
"""

from __future__ import annotations

import numpy as np

from ganforge.data.stacked import N_DIGITS, N_MODES, triple_label
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import TrainedClassifier
from ganforge.metrics.scores import label_stats

N_SAMPLES = 26_000
"""Generated pictures the protocol classifies (VEEGAN, PacGAN)."""


def triple_stats(digits: np.ndarray) -> dict[str, float | int]:
    """Modes and KL to uniform of digit triples.

    Args:
        digits: ``(N, 3)`` integer digits 0..9 (red, green, blue channel), at least one row.

    Returns:
        ``modes``: distinct triples (int, at most 1,000); ``kl``: KL(p ‖ uniform over 1,000)
        in nats, ``p`` the triples' shares, with ``0 · log 0 = 0``.
    """
    digits = np.asarray(digits)
    if digits.ndim != 2 or digits.shape[1] != 3 or len(digits) == 0:
        raise GanforgeError(
            f"digit triples must be a non-empty (N, 3) array, got shape {digits.shape}"
        )
    stats = label_stats(triple_label(digits), N_MODES)
    return {"modes": stats["classes"], "kl": stats["kl"]}


def channel_digits(images: np.ndarray, classifier: TrainedClassifier) -> np.ndarray:
    """The digit a one-channel classifier sees in each colour channel: ``(N, 3)`` ints.

    Args:
        images: ``uint8`` pictures ``(N, H, W, 3)`` (the edge format).
        classifier: a 10-class classifier of ``(1, H, W)`` pictures, e.g. from
            ``train_classifier`` on the ``mnist`` built-in or ``ganforge train-classifier mnist``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or not len(images):
        raise GanforgeError(
            f"Stacked MNIST needs uint8 colour pictures (N, H, W, 3), got {images.dtype} of "
            f"shape {images.shape}"
        )
    n, h, w, _ = images.shape
    if len(classifier.classes) != N_DIGITS or classifier.shape != (1, h, w):
        raise GanforgeError(
            f"Stacked MNIST needs a 10-class digit classifier of (1, {h}, {w}) pictures, got "
            f"{len(classifier.classes)} classes of {classifier.shape}; train one on mnist "
            "(`ganforge train-classifier mnist`)"
        )
    channels = images.transpose(0, 3, 1, 2).reshape(n * 3, h, w, 1)  # picture-major: r, g, b
    _, probs = classifier.predict(channels)
    return probs.argmax(1).reshape(n, 3)


def stacked_modes(images: np.ndarray, classifier: TrainedClassifier) -> dict[str, float | int]:
    """The Stacked MNIST protocol on generated pictures.

    Each channel is classified on its own (:func:`channel_digits`); the triples are counted
    (:func:`triple_stats`). The protocol uses :data:`N_SAMPLES` pictures.

    Args:
        images: ``uint8`` pictures ``(N, H, W, 3)``.
        classifier: a 10-class digit classifier of one-channel ``(1, H, W)`` pictures.

    Returns:
        ``modes``: distinct digit triples (of 1,000); ``kl``: KL(p ‖ uniform over 1,000).
    """
    return triple_stats(channel_digits(images, classifier))


__all__ = ["N_SAMPLES", "channel_digits", "stacked_modes", "triple_stats"]
