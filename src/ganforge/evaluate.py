"""Evaluation of generated samples against real data: ``ganforge eval``, ``evaluate`` and
the :class:`Evaluator` that training runs every ``--eval-every`` steps. Samples come from a
sampling callable ``chunks(n, seed=...)`` that yields them a chunk at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ganforge.data import Source
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
from ganforge.metrics.stacked import stacked_modes

METRICS = ("fd", "kid", "prdc", "modes", "classes", "cs", "stacked")
N_DEFAULT = 5000
CHUNK = 500  # samples generated and turned into features at a time

# Every number a metric reports, and whether lower values are better; the key a metric is
# ranked by when it chooses the best checkpoint comes first. KID's spread and the modes'
# width rank nothing (the width is best at the data's own, neither high nor low).
KEYS: dict[str, tuple[str, ...]] = {
    "fd": ("fd",),
    "kid": ("kid", "kid_std"),
    "prdc": ("coverage", "precision", "recall", "density"),
    "modes": ("rkl", "modes", "hq", "width"),
    "classes": ("class_kl", "classes"),
    "cs": ("cs",),
    "stacked": ("stacked_kl", "stacked_modes"),
}
LOWER_IS_BETTER = frozenset(
    {"fd", "kid", "rkl", "class_kl", "stacked_kl", "discriminative", "predictive", "acf"}
)
RANKED = frozenset(k for keys in KEYS.values() for k in keys) - {"kid_std", "width"}

Features = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
Chunks = Callable[..., Iterable[np.ndarray]]  # chunks(n, seed=...): n samples, in pieces


def feature_extractor(name: str) -> Features:
    """The feature function of ``name``: ``raw``, ``classifier:PATH`` or ``inception[:PATH]``.

    It maps a chunk of samples in edge format to ``(features, class probabilities or None)``.
    """
    if name == "raw":
        return _raw
    if name.startswith("classifier:"):
        return TrainedClassifier.load(name.split(":", 1)[1]).predict
    if name == "inception" or name.startswith("inception:"):
        from ganforge.metrics.inception import InceptionFeatures

        inception = InceptionFeatures(name.split(":", 1)[1] if ":" in name else None)
        return lambda x: (inception(_pictures(x, name)), None)
    raise GanforgeError(
        f"unknown features {name!r}; choose raw, classifier:PATH (a file written by "
        "`ganforge train-classifier`) or inception[:PATH] (the FID Inception weights)"
    )


def _raw(x: np.ndarray) -> tuple[np.ndarray, None]:
    """Pixels scaled to [-1, 1], or points as they are, one flat float64 row per sample."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return (flat / 127.5 - 1 if x.dtype == np.uint8 else flat), None


def _pictures(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype != np.uint8 or x.ndim != 4:
        raise GanforgeError(f"--features {name} needs pictures; use raw for points and tables")
    return x


class Evaluator:
    """Scores generated samples against a fixed set of real ones.

    The real samples and their features are computed once; each call generates ``n``
    samples from the same seed in chunks and streams them through the feature extractor.

    Args:
        source: the real data (a loaded data source).
        metrics: names from :data:`METRICS` (default: ``fd``, ``kid``, ``prdc``, plus
            ``modes`` on a known mixture and ``classes``, ``cs`` with a classifier).
        n: samples on each side (default: the data's size, at most 5,000; 2,500 on a
            mixture, the PacGAN protocol).
        features: ``raw``, ``classifier:PATH`` or ``inception[:PATH]``.
        seed: seed of the generated samples, the real subset and KID's subsets.
    """

    def __init__(
        self,
        source: Source,
        *,
        metrics: list[str] | None = None,
        n: int | None = None,
        features: str = "raw",
        seed: int = 0,
    ) -> None:
        self.mixture = source.mixture
        size = len(source) or 2500
        self.n = n or (2500 if self.mixture is not None else min(size, N_DEFAULT))
        if self.n < 2 or (self.mixture is None and self.n > size):
            raise GanforgeError(f"-n must be between 2 and the data's size {size}, got {self.n}")
        self.metrics = self._choose(metrics, features)
        self.features, self.seed = features, seed
        self.extract = feature_extractor(features) if self._needs_features else _raw
        classifier = getattr(self.extract, "__self__", None)
        self.classes = len(classifier.classes) if isinstance(classifier, TrainedClassifier) else 0
        self._source = source
        self._real: np.ndarray | None = None

    def _choose(self, metrics: list[str] | None, features: str) -> list[str]:
        has_classifier = features.startswith("classifier:")
        chosen = list(metrics) if metrics else ["fd", "kid", "prdc"]
        if not metrics and self.mixture is not None:
            chosen.append("modes")
        if not metrics and has_classifier:
            chosen += ["classes", "cs"]
        unknown = sorted(set(chosen) - set(METRICS))
        if unknown:
            raise GanforgeError(
                f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}"
            )
        if {"classes", "cs", "stacked"} & set(chosen) and not has_classifier:
            raise GanforgeError("classes, cs and stacked need --features classifier:PATH")
        if "modes" in chosen and self.mixture is None:
            raise GanforgeError("modes needs a built-in mixture (ring or grid)")
        return chosen

    @property
    def _stacked_classifier(self) -> TrainedClassifier:
        """The digit classifier that reads each channel of a Stacked MNIST picture."""
        return TrainedClassifier.load(self.features.split(":", 1)[1])

    @property
    def _needs_features(self) -> bool:
        return bool({"fd", "kid", "prdc", "classes", "cs"} & set(self.metrics))

    def numbers(self) -> list[str]:
        """The numbers a call returns, ranked ones first per metric."""
        return [k for m in self.metrics for k in KEYS[m]]

    def _features_of(self, chunks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Features of the samples in ``chunks``, at most :data:`CHUNK` at a time."""
        pieces = [c[i : i + CHUNK] for c in chunks for i in range(0, len(c), CHUNK)]
        feats, probs = zip(*(self.extract(p) for p in pieces), strict=True)
        return np.concatenate(feats), (None if probs[0] is None else np.concatenate(probs))

    def real_features(self) -> np.ndarray:
        """Features of the ``n`` real samples (computed on the first call)."""
        if self._real is None:
            real = self._source.reference(self.n, seed=self.seed)
            self._real = self._features_of([real])[0]
        return self._real

    def __call__(self, sample_chunks: Chunks) -> dict[str, Any]:
        """The chosen metrics of ``n`` samples from ``sample_chunks`` (same seed, same
        samples)."""
        chunks = list(sample_chunks(self.n, seed=self.seed))
        result: dict[str, Any] = {}
        if "modes" in self.metrics:
            result.update(mode_stats(np.concatenate(chunks), self.mixture))
        if "stacked" in self.metrics:
            stats = stacked_modes(np.concatenate(chunks), self._stacked_classifier)
            result["stacked_modes"], result["stacked_kl"] = stats["modes"], stats["kl"]
        if not self._needs_features:
            return result
        real_f = self.real_features()
        fake_f, probs = self._features_of(chunks)
        if "fd" in self.metrics:
            result["fd"] = frechet_distance(real_f, fake_f)
        if "kid" in self.metrics:
            size = min(1000, self.n)
            result["kid"], result["kid_std"] = kid(real_f, fake_f, subset_size=size, seed=self.seed)
        if "prdc" in self.metrics:
            result.update(prdc(real_f, fake_f, k=min(5, self.n - 1)))
        if "classes" in self.metrics:
            stats = label_stats(probs.argmax(1), self.classes)
            result["classes"], result["class_kl"] = stats["classes"], stats["kl"]
        if "cs" in self.metrics:
            result["cs"] = classifier_score(probs)
        return {k: result[k] for k in self.numbers()}


def best_key(evaluator: Evaluator, name: str = "") -> str:
    """The number that picks the best checkpoint: ``name``, or the chosen metrics' first
    ranked key; a name the evaluation does not report is an error."""
    if not name:
        return evaluator.numbers()[0]
    if name not in RANKED or name not in evaluator.numbers():
        raise GanforgeError(
            f"--best-metric {name!r} is not among the evaluated numbers "
            f"({', '.join(k for k in evaluator.numbers() if k in RANKED)}); choose one of them "
            "or add its metric to --eval-metrics"
        )
    return name


def is_better(key: str, value: float, best: float | None) -> bool:
    """Whether ``value`` of ``key`` beats ``best``: anything beats no best yet (so the first
    evaluation always keeps a checkpoint), a number beats NaN, NaN beats nothing else."""
    if best is None:
        return True
    if value != value:  # NaN
        return False
    if best != best:
        return True
    return value < best if key in LOWER_IS_BETTER else value > best


def evaluate(
    sample_chunks: Chunks,
    source: Source,
    *,
    metrics: list[str] | None = None,
    n: int | None = None,
    features: str = "raw",
    seed: int = 0,
) -> dict[str, Any]:
    """Compares ``n`` generated samples with ``n`` samples of the real data ``source``.

    Args:
        sample_chunks: ``sample_chunks(n, seed=seed)`` yields the generated samples in
            the edge format, a chunk at a time.
        source: the real data (a loaded data source).
        metrics: names from :data:`METRICS` (default: ``fd``, ``kid``, ``prdc``, plus
            ``modes`` on a known mixture and ``classes``, ``cs`` with a classifier).
        n: samples on each side (default: the data's size, at most 5,000; 2,500 on a
            mixture, the PacGAN protocol).
        features: ``raw`` (pixels in [-1, 1] or points as they are), ``classifier:PATH``
            or ``inception[:PATH]``.
        seed: seed of the generated samples, the real subset and KID's subsets.

    Returns:
        ``n``, ``features`` and the metric values (PRDC's four numbers under ``precision``,
        ``recall``, ``density``, ``coverage``; ``modes`` gives ``modes``, ``hq``, ``rkl``).
    """
    evaluator = Evaluator(source, metrics=metrics, n=n, features=features, seed=seed)
    return {"n": evaluator.n, "features": features, **evaluator(sample_chunks)}


__all__ = ["METRICS", "Evaluator", "best_key", "evaluate", "feature_extractor", "is_better"]
