"""Evaluation of a trained GAN against its training data: ``ganforge eval`` and ``evaluate``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ganforge.data import load_data
from ganforge.errors import GanforgeError
from ganforge.metrics import (
    classifier_score,
    frechet_distance,
    kid,
    label_stats,
    mode_stats,
    prdc,
)
from ganforge.metrics.classifier import TrainedClassifier

if TYPE_CHECKING:
    from ganforge.api import GAN

METRICS = ("fd", "kid", "prdc", "modes", "classes", "cs")
N_DEFAULT = 5000


def _features(
    x: np.ndarray, features: str, classifier: TrainedClassifier | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features (and class probabilities, with a classifier) of samples in edge format."""
    if classifier is not None:
        return classifier.predict(x)
    if features != "raw":
        raise GanforgeError(
            f"unknown features {features!r}; choose raw or classifier:PATH "
            "(a file written by `ganforge train-classifier`)"
        )
    flat = x.reshape(len(x), -1).astype(np.float64)
    return (flat / 127.5 - 1 if x.dtype == np.uint8 else flat), None


def evaluate(
    gan: GAN,
    *,
    metrics: list[str] | None = None,
    n: int | None = None,
    features: str = "raw",
    data: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Compares ``n`` generated samples with ``n`` samples of the training data.

    Args:
        gan: a fitted or loaded :class:`~ganforge.GAN`.
        metrics: names from :data:`METRICS` (default: ``fd``, ``kid``, ``prdc``, plus
            ``modes`` on a known mixture and ``classes``, ``cs`` with a classifier).
        n: samples on each side (default: the data's size, at most 5,000; 2,500 on a
            mixture, the PacGAN protocol).
        features: ``raw`` (pixels in [-1, 1] or points as they are) or ``classifier:PATH``.
        data: the real data (default: the run's own data set, loaded as it was trained).
        seed: seed of the generated samples, the real subset and KID's subsets.

    Returns:
        A dict of metric name to value (PRDC's four numbers under ``precision``,
        ``recall``, ``density``, ``coverage``; ``modes`` gives ``modes``, ``hq``, ``rkl``).
    """
    cfg = gan.config_
    name = data or cfg.data
    if name == "array":
        raise GanforgeError(
            "this run was trained on an in-memory array; pass the real data with --data PATH"
        )
    source = load_data(name, seed=seed, resolution=cfg.resolution, channels=cfg.channels)
    mixture = source.mixture
    size = len(source) or 2500
    n = n or (2500 if mixture is not None else min(size, N_DEFAULT))
    if n < 2 or (mixture is None and n > size):
        raise GanforgeError(f"-n must be between 2 and the data's size {size}, got {n}")
    classifier = None
    if features.startswith("classifier:"):
        classifier = TrainedClassifier.load(features.split(":", 1)[1])
    chosen = metrics or ["fd", "kid", "prdc"]
    if metrics is None and mixture is not None:
        chosen.append("modes")
    if metrics is None and classifier is not None:
        chosen += ["classes", "cs"]
    unknown = sorted(set(chosen) - set(METRICS))
    if unknown:
        raise GanforgeError(f"unknown metric(s) {', '.join(unknown)}; choose from {METRICS}")
    if {"classes", "cs"} & set(chosen) and classifier is None:
        raise GanforgeError("classes and cs need --features classifier:PATH")
    if "modes" in chosen and mixture is None:
        raise GanforgeError("modes needs a built-in mixture (ring or grid)")
    real = source.reference(n, seed=seed)
    fake = gan.sample(n, seed=seed)
    real_f, _ = _features(real, features, classifier)
    fake_f, probs = _features(fake, features, classifier)
    result: dict[str, Any] = {"n": n, "features": features}
    if "fd" in chosen:
        result["fd"] = frechet_distance(real_f, fake_f)
    if "kid" in chosen:
        result["kid"], result["kid_std"] = kid(real_f, fake_f, subset_size=min(1000, n), seed=seed)
    if "prdc" in chosen:
        result.update(prdc(real_f, fake_f, k=min(5, n - 1)))
    if "modes" in chosen:
        result.update(mode_stats(fake, mixture))
    if "classes" in chosen:
        stats = label_stats(probs.argmax(1), len(classifier.classes))
        result["classes"], result["class_kl"] = stats["classes"], stats["kl"]
    if "cs" in chosen:
        result["cs"] = classifier_score(probs)
    return result


__all__ = ["METRICS", "evaluate"]
