"""Scores from a classifier's outputs: the classifier (Inception) score and label statistics."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import rel_entr

from ganforge.errors import GanforgeError
from ganforge.metrics.distances import _as_float64

ArrayLike = np.ndarray | torch.Tensor

_SUM_TOL = 1e-4  # allowed |row sum - 1|, generous enough for float16 or float32 softmax output
_NEG_TOL = 1e-6  # allowed rounding below 0


def classifier_score(probs: ArrayLike) -> float:
    """Classifier (Inception) score ``exp(E_x KL(p(y|x) ‖ p(y)))``, ``p(y)`` the mean of the rows.

    Terms with ``p(y|x) = 0`` contribute 0 (``0 · log 0 = 0``), so one-hot rows need no
    smoothing; ``p(y)`` is kept above the smallest normal float so that no logarithm sees 0.

    Args:
        probs: ``(N, K)`` class probabilities (softmax outputs, not logits), rows summing to 1.

    Returns:
        A float between 1 (every row the same) and K (confident, evenly spread predictions).
    """
    p = _as_float64(probs, "probs")
    if p.ndim != 2 or p.shape[1] == 0 or len(p) == 0:
        raise GanforgeError(
            f"probs must be a 2-D (N, K) array with N, K ≥ 1, got shape {p.shape}; "
            "pass one row of class probabilities per sample"
        )
    if not np.isfinite(p).all():
        raise GanforgeError("probs contains NaN or Inf; check the classifier's outputs")
    worst = float(np.abs(p.sum(axis=1) - 1.0).max())
    if p.min() < -_NEG_TOL or p.max() > 1.0 + _NEG_TOL or worst > _SUM_TOL:
        raise GanforgeError(
            f"probs are not probabilities (values in [{p.min():.3g}, {p.max():.3g}], a row sum "
            f"off 1 by {worst:.3g}); apply softmax to the logits first"
        )
    p = np.clip(p, 0.0, None)
    marginal = np.maximum(p.mean(axis=0), np.finfo(np.float64).tiny)
    kl = rel_entr(p, marginal[None, :]).sum(axis=1)
    return float(math.exp(kl.mean()))


def label_stats(labels: ArrayLike, n_classes: int) -> dict:
    """How evenly predicted (or true) class labels spread over ``n_classes`` classes.

    Args:
        labels: 1-D integer labels in ``[0, n_classes)``, at least one.
        n_classes: number of classes K.

    Returns:
        ``classes``: number of classes with at least one label (int); ``kl``: KL(p ‖ uniform)
        of the class shares p in nats, with ``0 · log 0 = 0`` (0 when even, ``log K`` when all
        labels are one class); ``shares``: p as a list of K floats.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise GanforgeError(f"n_classes must be an integer ≥ 1, got {n_classes!r}")
    n_classes = int(n_classes)
    y = _as_float64(labels, "labels")
    if y.ndim != 1 or len(y) == 0:
        raise GanforgeError(
            f"labels must be a non-empty 1-D array, got shape {y.shape}; pass one label per sample"
        )
    if not np.isfinite(y).all() or (y != np.round(y)).any():
        raise GanforgeError("labels must be whole numbers; pass class indices, not probabilities")
    if y.min() < 0 or y.max() >= n_classes:
        raise GanforgeError(
            f"labels range over [{y.min():.0f}, {y.max():.0f}], outside [0, {n_classes - 1}]; "
            "check n_classes or the labels"
        )
    counts = np.bincount(y.astype(np.int64), minlength=n_classes)
    shares = counts / len(y)
    seen = shares[counts > 0]
    kl = float((seen * np.log(seen * n_classes)).sum())
    return {"classes": int((counts > 0).sum()), "kl": max(kl, 0.0), "shares": shares.tolist()}
