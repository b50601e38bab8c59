"""Metrics of generated samples."""

from ganforge.metrics.distances import (
    RunningStats,
    frechet_distance,
    frechet_from_stats,
    gaussian_stats,
    kid,
    prdc,
)
from ganforge.metrics.modes import mode_stats, true_width
from ganforge.metrics.scores import classifier_score, label_stats
from ganforge.metrics.stacked import stacked_modes, triple_stats

__all__ = [
    "RunningStats",
    "classifier_score",
    "frechet_distance",
    "frechet_from_stats",
    "gaussian_stats",
    "kid",
    "label_stats",
    "mode_stats",
    "prdc",
    "stacked_modes",
    "triple_stats",
    "true_width",
]
